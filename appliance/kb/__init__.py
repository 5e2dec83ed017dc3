"""The knowledge base (categories, articles, review, versions, search, suggestions) and
training (quizzes built from articles)."""
