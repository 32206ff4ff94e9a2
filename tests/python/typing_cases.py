"""What the stubs (bindings/python/mailwire/__init__.pyi) must tell a type
checker; checked by test_typing.py with mypy --strict, never run."""

import io
from typing import List, Tuple, assert_type

import mailwire


def return_inside_with(pop: mailwire.POP3Client) -> bytes:
    # __exit__ -> None: mypy knows the with does not swallow exceptions, so
    # no "missing return statement" after it.
    with pop:
        return pop.retr(1)


def narrowing_after_with(smtp: mailwire.SMTPClient) -> List[mailwire.RecipientResult]:
    with smtp:
        results = smtp.send("a@example.org", ["b@example.org"], b"x")
    return results


def overloads(pop: mailwire.POP3Client) -> None:
    assert_type(pop.retr(1), bytes)
    assert_type(pop.retr(1, io.BytesIO()), None)
    assert_type(pop.top(1, 0), bytes)
    assert_type(pop.retr_batch([1, 2]), List[bytes])
    assert_type(pop.retr_batch([1, 2], lambda n, c: None), None)
    assert_type(pop.top_batch([1], 0), List[bytes])
    assert_type(pop.list(), List[Tuple[int, int]])
    assert_type(pop.list(1), int)
    assert_type(pop.uidl(), List[Tuple[int, str]])
    assert_type(pop.uidl(1), str)


def results_on_every_error(smtp: mailwire.SMTPClient) -> int:
    try:
        smtp.send("a@example.org", "b@example.org", "x")
    except mailwire.Error as e:
        return len(e.results)
    return 0


def type_errors_are_mailwire_errors() -> None:
    try:
        mailwire.SMTPClient("h", 25).send("a@example.org", [1], "x")  # type: ignore[list-item]
    except mailwire.InvalidArgumentTypeError as e:
        assert_type(e.number, int)
