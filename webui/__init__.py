"""The web UI: a CherryPy application hosted in the Twisted process, pages, JSON API, i18n."""
