"""Splits and forget specs: D_f and D_r are disjoint, cover the training part, and bad specs fail."""
import numpy as np
import pytest

from pixelsecurer_lib.data import forget_split, load_folder, make_split, parse_forget_spec


@pytest.fixture(scope="module")
def data(tiny_agedb):
    return load_folder(tiny_agedb, image_size=16, progress=False)


@pytest.mark.parametrize("kind", ["image", "identity"])
def test_split_parts_are_disjoint_and_complete(data, kind):
    split = make_split(data, kind=kind, seed=3)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(data) == len(set.union(*parts))
    if kind == "identity":
        train_ids = set(data.identities[split.train])
        assert not train_ids & set(data.identities[split.test])
    assert (make_split(data, kind=kind, seed=3).train == split.train).all()
    assert not np.array_equal(make_split(data, kind=kind, seed=4).test, split.test)


@pytest.mark.parametrize("spec", ["age:0-30", "identity:BorisKarl", "identities:2", "random:0.2"])
def test_forget_and_retain_are_disjoint_and_cover_train(data, spec):
    split = make_split(data, seed=0)
    fs = forget_split(data, split, spec, seed=0)
    assert len(fs.forget) and len(fs.retain)
    assert not set(fs.forget) & set(fs.retain)
    assert sorted(np.concatenate([fs.forget, fs.retain])) == sorted(split.train)
    assert set(fs.test_forget) | set(fs.test_retain) == set(split.test)


def test_age_spec_is_inclusive(data):
    split = make_split(data, seed=0)
    lo, hi = int(data.ages[split.train].min()), 40
    fs = forget_split(data, split, f"age:{lo}-{hi}")
    assert data.ages[fs.forget].min() == lo
    assert (data.ages[fs.forget] <= hi).all() and (data.ages[fs.retain] > hi).all()
    assert (data.ages[fs.test_forget] <= hi).all()


def test_identity_spec_takes_both_genders_of_a_name_or_one_key(data):
    split = make_split(data, seed=0)
    both = forget_split(data, split, "identity:AnnaBell")
    assert set(both.identities) == {"AnnaBell_f", "AnnaBell_m"}
    one = forget_split(data, split, "identity:AnnaBell_m")
    assert set(data.identities[one.forget]) == {"AnnaBell_m"}


@pytest.mark.parametrize("spec, fragment", [
    ("age:30", "LO-HI"), ("age:40-30", "greater than"), ("ages:0-30", "unknown kind"),
    ("random:1.5", "FRACTION"), ("identities:0", "positive"), ("nonsense", "does not parse"),
    ("identity:", "does not parse"),
])
def test_bad_specs_are_refused(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_forget_spec(spec)


def test_empty_forget_set_unknown_identity_and_empty_retain_are_refused(data):
    split = make_split(data, seed=0)
    with pytest.raises(ValueError, match="forget set is empty"):
        forget_split(data, split, "age:120-130")
    with pytest.raises(ValueError, match="retain set would be empty"):
        forget_split(data, split, "age:0-130")
    with pytest.raises(ValueError, match="'NoSuchPerson' is not in the data set"):
        forget_split(data, split, "identity:NoSuchPerson")
    with pytest.raises(ValueError, match="every one of"):
        forget_split(data, split, "identities:50")
