"""Sphinx extension of the PixelSecurer book: a bibliography style whose labels read like the
citations in the text.

The text cites author-year ("Tarun et al. [2023]", ``bibtex_reference_style: author_year``);
with pybtex's ``plain`` style the reference list would be numbered [1]-[18] instead. The style
``authoryear`` registered here is ``plain`` with labels "Tarun et al. 2023" (one author: the
last name; two: both; more: the first "et al."), with a, b, ... added when two entries would get
the same label, and entries sorted by author (braces ignored), year and title. Loaded through ``sphinx: local_extensions`` in ``_config.yml``.
"""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSorting


def _last_name(person) -> str:
    parts = person.prelast_names + person.last_names
    return " ".join(parts).replace("{", "").replace("}", "")


def author_year_label(entry) -> str:
    """"Tarun et al. 2023" for one pybtex entry (authors, else editors, else the key)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    if not persons:
        names = entry.key
    elif len(persons) == 1:
        names = _last_name(persons[0])
    elif len(persons) == 2:
        names = f"{_last_name(persons[0])} and {_last_name(persons[1])}"
    else:
        names = f"{_last_name(persons[0])} et al."
    return f"{names} {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        repeats = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if repeats[label] > 1:
                seen[label] += 1
                yield f"{label}{'abcdefghijklmnopqrstuvwxyz'[seen[label] - 1]}"
            else:
                yield label


class AuthorSorting(AuthorYearTitleSorting):
    """Author, year, title order, with braces ignored, so that a body such as
    "{California State Legislature}" sorts under C rather than after Z."""

    def person_key(self, person):
        return super().person_key(person).replace("{", "").replace("}", "").lower()


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = AuthorSorting


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
