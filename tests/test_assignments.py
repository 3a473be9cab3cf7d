"""The course assignments: one Otter master each, from which the student copy, the autograder
and the book's page are made without solutions or hidden tests (course/assign.py)."""
import json
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "course"))
sys.path.insert(0, str(ROOT / "book" / "assignments" / "masters"))

import assign  # noqa: E402
import grade  # noqa: E402
import unlearning_checks  # noqa: E402

SOLUTION_ONLY = ("blind_share", "forget-to-blindspot", "graded_run", "Model answer")


def test_every_assignment_page_is_generated_from_its_master():
    assert assign.masters(), "no masters under book/assignments/masters"
    assert assign.write_book_pages(check=True) == 0, "run `make sync`"


def test_the_book_page_has_no_solutions_tests_or_otter_markers():
    for master in assign.masters():
        text = assign.book_page_text(master)
        for needle in SOLUTION_ONLY + ("BEGIN", "END QUESTION", "ASSIGNMENT CONFIG", "grader.check(\"",
                                       "otter.Notebook"):
            assert needle not in text, f"{needle!r} leaked into the book page of {master.stem}"


def test_masters_and_solutions_stay_out_of_the_html_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    excluded = config["exclude_patterns"]
    assert "book/assignments/masters/**" in excluded
    assert "book/assignments/solutions/**" in excluded


def test_an_unclosed_block_is_refused(tmp_path):
    master = tmp_path / "broken.md"
    master.write_text(assign.masters()[0].read_text().replace("```{raw-cell}\n# END SOLUTION\n```\n", "", 1))
    with pytest.raises(ValueError, match="never closed|does not close"):
        assign.book_page(master)


def test_otter_assign_makes_a_student_copy_without_solutions_or_hidden_tests(tmp_path):
    master = assign.masters()[0]
    dist = assign.otter_assign(master, tmp_path)
    student = nbformat.read(dist / "student" / f"{master.stem}.ipynb", as_version=4)
    text = json.dumps(student)
    for needle in SOLUTION_ONLY:
        assert needle not in text, f"{needle!r} leaked into the student notebook"
    cases = [case for test in student.metadata["otter"]["tests"].values()
             for suite in test["suites"] for case in suite["cases"]]
    assert cases and not any(case.get("hidden") for case in cases), "hidden tests in the student copy"
    assert sum("grader.check" in c.source for c in student.cells) >= 1
    # the grader is set up after the Colab install cell, not before it
    setup = [i for i, c in enumerate(student.cells) if "pip" in c.source and "install" in c.source]
    grader = [i for i, c in enumerate(student.cells) if "otter.Notebook(" in c.source]
    assert setup and len(grader) == 1 and setup[0] < grader[0]
    assert (dist / "autograder" / "autograder.zip").is_file()
    # the autograder holds the hidden tests, and its points are the rubric's automatic 30
    assert grade.points_possible(dist / "autograder" / "autograder.zip") == 30


def test_a_variant_sets_the_forget_range_and_seed_everywhere(tmp_path):
    master = assign.masters()[0]
    dist = assign.otter_assign(master, tmp_path, forget="age:10-40", seed="7")
    student = (dist / "student" / f"{master.stem}.ipynb").read_text()
    checks = (dist / "student" / "unlearning_checks.py").read_text()
    assert 'FORGET = \\"age:10-40\\"' in student and "SEED = 7" in student
    assert 'FORGET = "age:10-40"' in checks and "SEED = 7" in checks
    assert "age:0-30" not in checks


@pytest.mark.parametrize("forget, seed, message", [
    ("identity:AnnaBell", None, "age range"),
    ("age:40-10", None, "greater than"),
    (None, "seven", "natural number"),
])
def test_a_bad_variant_is_refused_with_one_line(forget, seed, message):
    with pytest.raises(ValueError, match=message):
        assign.check_variant(forget, seed)


def test_training_work_counts_training_forward_passes_only():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    x = torch.zeros(5, 3, 8, 8)

    def work():
        model.train()
        model(x).sum().backward()            # counted: 5 images
        model.eval()
        with torch.no_grad():
            model(x)                         # a frozen teacher: not counted
        return "done"

    result, images = unlearning_checks.count_training_images(work)
    assert result == "done" and images == 5


def test_hyperparameters_are_what_follows_the_common_signature():
    def unlearn(original, data, forget, profile, seed=0, device=None, progress=True, lam=1.0, k=None,
                **hp):
        return original

    assert [p.name for p in unlearning_checks.hyperparameters(unlearn)] == ["lam", "k"]
