"""admin_forms.many_ids, the repeated id field of the KB links and training assign forms:
every value sent comes back, in order; more than the most is a 400 naming the field (never
some values silently dropped); a value that is not an id is a FormError naming the field."""

from __future__ import annotations

import cherrypy
import pytest

from webui import admin_forms as f


def test_every_id_comes_back_in_order() -> None:
    assert f.many_ids({"queue": ["3", "1", "2"]}, "queue", 3) == (3, 1, 2)
    assert f.many_ids({"queue": "7"}, "queue", 3) == (7,)
    assert f.many_ids({}, "queue", 3) == ()


def test_too_many_is_a_400_not_a_cut() -> None:
    with pytest.raises(cherrypy.HTTPError) as caught:
        f.many_ids({"queue": [str(n) for n in range(1, 202)]}, "queue", 200)
    assert caught.value.status == 400
    assert caught.value._message == "queue: Too many chosen at once."


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", "\uff11", "12345678901", ""])
def test_a_value_that_is_no_id_names_the_field(bad: str) -> None:
    with pytest.raises(f.FormError, match="agent"):
        f.many_ids({"agent": ["1", bad]}, "agent", 10)
