"""`load_emoji`, on the tiny font and emoji-test.txt of
`tests/data/emoji_files.py`; one test runs on the real font where it is
installed."""

import os

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("fontTools")

from keras_rin.data import EMOJI_GROUPS  # noqa: E402
from keras_rin.data import DataUnavailableError  # noqa: E402
from keras_rin.data import emoji as emoji_module  # noqa: E402
from keras_rin.data import load_emoji  # noqa: E402
from tests.data.emoji_files import EXPECTED  # noqa: E402
from tests.data.emoji_files import VARIANTS  # noqa: E402
from tests.data.emoji_files import text_of  # noqa: E402
from tests.data.emoji_files import write_emoji_files  # noqa: E402

_SKIN_TONES = tuple(chr(c) for c in range(0x1F3FB, 0x1F400))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths of the test font and emoji-test.txt."""
    return write_emoji_files(tmp_path_factory.mktemp("emoji_files"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A cache shared by the tests that do not look at it."""
    return str(tmp_path_factory.mktemp("emoji_cache"))


def _load(files, cache_dir, split="all", **kwargs):
    return load_emoji(
        split, cache_dir=cache_dir, return_emoji=True, **files, **kwargs
    )


@pytest.fixture(scope="module")
def everything(files, cache_dir):
    return _load(files, cache_dir)


def _cache_files(folder):
    return sorted(os.listdir(folder))


def _assert_loads_equal(first, second):
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def _image_of(load, code_points):
    images, _, texts = load
    return images[list(texts).index(text_of(code_points))]


def _has_skin_tone(text):
    return any(c in _SKIN_TONES for c in text)


def test_images_labels_and_emoji(files, cache_dir, everything):
    images, labels, texts = everything
    assert images.shape == (len(EXPECTED), 32, 32, 3)
    assert images.dtype == np.uint8
    assert labels.shape == (len(EXPECTED),) and labels.dtype == np.int32
    assert 0 <= labels.min() and labels.max() < len(EMOJI_GROUPS)
    assert texts.dtype == object and all(isinstance(t, str) for t in texts)
    # The fully-qualified emoji of the nine groups, in file order and
    # labelled with their group: no unqualified, minimally-qualified or
    # component lines, nothing of the Component group, no skin tones.
    assert list(texts) == [text_of(code) for code, _ in EXPECTED]
    np.testing.assert_array_equal(labels, [group for _, group in EXPECTED])
    # Without `return_emoji`: the same images and labels.
    _assert_loads_equal(
        load_emoji("all", cache_dir=cache_dir, **files), everything[:2]
    )


def test_repeated_and_invisible_glyphs_are_left_out(everything):
    images, _, texts = everything
    assert text_of("1F436") in texts  # The dog is kept; the fox, drawn
    assert text_of("1F98A") not in texts  # the same, is not.
    assert text_of("1F43B") not in texts  # Draws nothing.
    assert text_of("1F43C") not in texts  # Wider than the canvas.
    assert len({image.tobytes() for image in images}) == len(images)


def test_glyphs_are_black_and_centred_on_white(everything):
    images = everything[0]
    # Nothing is drawn in the top corners of any glyph's box.
    np.testing.assert_array_equal(images[:, 0, 0], 255)
    np.testing.assert_array_equal(images[:, 0, -1], 255)
    # Every glyph is drawn black, the colour of the test font.
    assert images.reshape(len(images), -1).min(axis=1).max() == 0
    # A wide glyph spans the width, with as much white above as below;
    # a tall one the height, with as much white left as right.
    for code, across, along in (("1F603", 0, 1), ("1F600", 1, 0)):
        # Lanczos rings: faint grey beside the edges.
        ink = _image_of(everything, code) < 128
        lines = np.flatnonzero(ink.any(axis=(along, 2)))
        spans = np.flatnonzero(ink.any(axis=(across, 2)))
        assert spans[0] == 0 and spans[-1] == 31, code
        before, after = lines[0], 31 - lines[-1]
        assert before >= 5 and abs(before - after) <= 1, code


def test_the_split_is_fixed_stratified_and_a_partition(
    files, cache_dir, everything
):
    images, labels, texts = everything
    train = _load(files, cache_dir, "train")
    test = _load(files, cache_dir, "test")
    assert not set(train[2]) & set(test[2])
    assert len(train[2]) + len(test[2]) == len(texts)
    # Each split is the emoji of "all" on its side, in the same order.
    is_test = np.array([text in set(test[2]) for text in texts])
    _assert_loads_equal(
        test, (images[is_test], labels[is_test], texts[is_test])
    )
    _assert_loads_equal(
        train, (images[~is_test], labels[~is_test], texts[~is_test])
    )
    # 20% of each group, rounded: one of the 6 smileys, 6 people and 5
    # animals; none of the 2 foods.
    counts = np.bincount(test[1], minlength=len(EMOJI_GROUPS))
    assert counts.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    _assert_loads_equal(_load(files, cache_dir, "test"), test)


def test_skin_tone_variants_are_kept_on_their_base_s_side(
    files, cache_dir, everything
):
    images, labels, texts = _load(files, cache_dir, include_skin_tones=True)
    assert sorted(texts) == sorted(
        list(everything[2]) + [text_of(code) for code in VARIANTS]
    )
    variant = np.array([_has_skin_tone(text) for text in texts])
    assert set(labels[variant]) == {EMOJI_GROUPS.index("People & Body")}
    # A mark beside the hand: each variant is an image of its own.
    assert len({image.tobytes() for image in images}) == len(images)
    # The emoji without skin tones are as without the variants ...
    _assert_loads_equal(
        (images[~variant], labels[~variant], texts[~variant]), everything
    )
    # ... and so is the split of them; each variant is on the side of
    # its emoji (written with U+FE0F or not).
    held_out = set(_load(files, cache_dir, "test", include_skin_tones=True)[2])
    default_held_out = set(_load(files, cache_dir, "test")[2])
    assert {t for t in held_out if not _has_skin_tone(t)} == default_held_out
    for code, base in VARIANTS.items():
        if base is not None:
            assert (text_of(code) in held_out) == (text_of(base) in held_out)


def test_rendering_again_gives_the_same_pixels(files, tmp_path, everything):
    _assert_loads_equal(_load(files, str(tmp_path)), everything)


def _refuse_to_render(*args):
    raise AssertionError("rendered again instead of reading the cache")


def test_a_second_load_reads_the_cache(files, tmp_path, monkeypatch):
    first = _load(files, str(tmp_path))
    names = _cache_files(tmp_path)
    assert len(names) == 1, names
    assert names[0].startswith("emoji_32_") and names[0].endswith(".npz")
    monkeypatch.setattr(emoji_module, "_render_emoji", _refuse_to_render)
    _assert_loads_equal(_load(files, str(tmp_path)), first)
    train = _load(files, str(tmp_path), "train")
    assert 0 < len(train[2]) < len(first[2])
    assert _cache_files(tmp_path) == names


def test_each_image_size_has_a_cache_entry(files, tmp_path, everything):
    _load(files, str(tmp_path))
    for image_size in (8, np.int64(128)):
        images, _, texts = _load(files, str(tmp_path), image_size=image_size)
        assert images.shape == (len(EXPECTED), image_size, image_size, 3)
        np.testing.assert_array_equal(texts, everything[2])
    sizes = {name.split("_")[1] for name in _cache_files(tmp_path)}
    assert sizes == {"8", "32", "128"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_is_rendered_again(
    files, tmp_path, monkeypatch, everything, damage
):
    _load(files, str(tmp_path))
    (name,) = _cache_files(tmp_path)
    path = os.path.join(tmp_path, name)
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(
            {
                "garbage": b"not an npz file " * 16,
                "truncated": data[: len(data) // 2],
                "empty": b"",
            }[damage]
        )
    _assert_loads_equal(_load(files, str(tmp_path)), everything)
    # It was written again: the next load reads it.
    monkeypatch.setattr(emoji_module, "_render_emoji", _refuse_to_render)
    _assert_loads_equal(_load(files, str(tmp_path)), everything)


def test_a_cache_that_cannot_be_written_is_skipped(files, tmp_path, everything):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    _assert_loads_equal(_load(files, str(not_a_folder / "cache")), everything)


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"split": "validation"}, "`split`"),
        ({"split": "Train"}, "`split`"),
        ({"split": None}, "`split`"),
        ({"image_size": 0}, "`image_size`"),
        ({"image_size": 7}, "`image_size`"),
        ({"image_size": 129}, "`image_size`"),
        ({"image_size": 32.0}, "`image_size`"),
        ({"image_size": True}, "`image_size`"),
        ({"image_size": "32"}, "`image_size`"),
    ],
    ids=repr,
)
def test_bad_arguments(files, cache_dir, arguments, match):
    with pytest.raises(ValueError, match=match) as raised:
        load_emoji(**files, cache_dir=cache_dir, **arguments)
    assert type(raised.value) is ValueError


def test_a_missing_font_file(files, cache_dir, tmp_path):
    missing = str(tmp_path / "NotoColorEmoji.ttf")
    with pytest.raises(DataUnavailableError, match="`font_path`") as raised:
        load_emoji(
            font_path=missing,
            emoji_test_path=files["emoji_test_path"],
            cache_dir=cache_dir,
        )
    assert "apt install fonts-noto-color-emoji" in str(raised.value)


def test_no_font_found(files, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(emoji_module, "_FONT_SEARCH", (str(tmp_path),))
    with pytest.raises(
        DataUnavailableError, match="apt install fonts-noto-color-emoji"
    ) as raised:
        load_emoji(
            emoji_test_path=files["emoji_test_path"], cache_dir=cache_dir
        )
    assert str(tmp_path) in str(raised.value)


def test_a_missing_emoji_test_file(files, cache_dir, tmp_path):
    missing = str(tmp_path / "emoji-test.txt")
    with pytest.raises(
        DataUnavailableError, match="`emoji_test_path`"
    ) as raised:
        load_emoji(
            font_path=files["font_path"],
            emoji_test_path=missing,
            cache_dir=cache_dir,
        )
    assert "apt install unicode-data" in str(raised.value)


def test_no_emoji_test_file_found(files, cache_dir, tmp_path, monkeypatch):
    missing = (str(tmp_path / "emoji-test.txt"),)
    monkeypatch.setattr(emoji_module, "_EMOJI_TEST_SEARCH", missing)
    with pytest.raises(DataUnavailableError, match="apt install unicode-data"):
        load_emoji(font_path=files["font_path"], cache_dir=cache_dir)


def test_an_emoji_test_file_without_emoji(files, cache_dir, tmp_path):
    path = tmp_path / "emoji-test.txt"
    path.write_text(
        "1F600 ; fully-qualified # 😀 E1.0 before any group\n"
        "# group: Smileys & Emotion\n"
        "263A ; unqualified # ☺ E0.6 smiling face\n"
        "# group: Component\n"
        "1F3FB ; component # 🏻 E1.0 light skin tone\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="`emoji_test_path`") as raised:
        load_emoji(
            font_path=files["font_path"],
            emoji_test_path=str(path),
            cache_dir=cache_dir,
        )
    assert type(raised.value) is ValueError


def test_a_file_that_is_not_a_font(files, cache_dir):
    not_a_font = {**files, "font_path": files["emoji_test_path"]}
    with pytest.raises(ValueError, match="`font_path`") as raised:
        load_emoji(**not_a_font, cache_dir=cache_dir)
    assert type(raised.value) is ValueError


# ----------------------------------------------------------------------
# The real font
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def noto_is_debian_12():
    """Whether the installed font and emoji-test.txt are those of Debian
    12 (Noto Color Emoji 2.042, Unicode 15.0); skips where either is
    missing."""
    try:
        font_path = emoji_module._find_font(None)
        emoji_test_path = emoji_module._find_emoji_test(None)
    except DataUnavailableError:
        pytest.skip(
            "Noto Color Emoji or Unicode's emoji-test.txt is not installed "
            "(apt install fonts-noto-color-emoji unicode-data)"
        )
    from fontTools.ttLib import TTFont

    with TTFont(font_path, lazy=True) as font:
        font_version = font["name"].getDebugName(5) or ""
    with open(emoji_test_path, encoding="utf-8") as file:
        unicode_version = "# Version: 15.0\n" in file.read(2000)
    return font_version.startswith("Version 2.042") and unicode_version


def test_noto_color_emoji(noto_is_debian_12, tmp_path):
    images, labels = load_emoji("all", cache_dir=str(tmp_path))
    train_images, _ = load_emoji("train", cache_dir=str(tmp_path))
    test_images, test_labels = load_emoji("test", cache_dir=str(tmp_path))
    # The counts of the packages the docstring and rin_emoji32 describe;
    # other versions have other emoji.
    if noto_is_debian_12:
        assert len(images) == 1861
        assert (len(train_images), len(test_images)) == (1489, 372)
    assert len(train_images) + len(test_images) == len(images)
    counts = np.bincount(labels, minlength=len(EMOJI_GROUPS))
    assert len(counts) == len(EMOJI_GROUPS) and counts.min() > 50  # All 9.
    held_out = np.bincount(test_labels, minlength=len(EMOJI_GROUPS))
    np.testing.assert_allclose(held_out / counts, 0.2, atol=0.01)
    flat = images.reshape(len(images), -1)
    # No two alike, none blank.
    assert len({row.tobytes() for row in flat}) == len(images)
    assert (flat < 255).any(axis=1).all()
