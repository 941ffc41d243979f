import dataclasses
import glob
import hashlib
import os
import tempfile
import zipfile

import numpy as np

from keras_rin.data.data_unavailable_error import DataUnavailableError

# The Unicode emoji groups, in the order of Unicode's `emoji-test.txt`; a
# label is an index into this tuple. The "Component" group (bare skin-tone
# and hair swatches) is not an emoji of its own and is left out.
EMOJI_GROUPS = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)
SPLITS = ("train", "test", "all")
BACKGROUND = (255, 255, 255)

# Noto Color Emoji holds one bitmap strike: 109 px text, 136x128 glyphs.
_FONT_SIZE = 109
_CANVAS = 160
_FONT_FILE = "NotoColorEmoji.ttf"
_FONT_SEARCH = (
    "/usr/share/fonts/truetype/noto",  # Debian, Ubuntu
    "/usr/share/fonts/noto",  # Arch
    "/usr/share/fonts/google-noto-color-emoji-fonts",  # Fedora
    "/usr/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
)
_EMOJI_TEST_SEARCH = (
    "/usr/share/unicode/emoji/emoji-test.txt",  # Debian's unicode-data
    "/usr/share/unicode-data/emoji/emoji-test.txt",
)
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
# Emoji presentation selector: "1F590 FE0F" (hand with fingers splayed)
# has it, its skin-tone variants "1F590 1F3FB" ... do not.
_VARIATION_SELECTOR_16 = "\ufe0f"
# The split is fixed so that the shipped `rin_emoji32`, its evaluation and
# anyone retraining it agree on which emoji were held out.
_HELD_OUT_FRACTION = 0.2
_SPLIT_SEED = 0
# Bump when rendering changes, so that stale caches are not reused.
_RENDER_VERSION = 1


@dataclasses.dataclass(frozen=True)
class _Emoji:
    text: str
    group: int
    # The emoji without skin-tone modifiers (nor presentation selectors):
    # variants share a split.
    base: str
    has_skin_tone: bool


def load_emoji(
    split="train",
    image_size=32,
    include_skin_tones=False,
    font_path=None,
    emoji_test_path=None,
    cache_dir=None,
    return_emoji=False,
):
    """Google's Noto Color Emoji, rendered as colour images with their
    Unicode group as the label.

    Renders every fully-qualified emoji of Unicode's `emoji-test.txt`
    (single code points and sequences: keycaps, flags, ZWJ families;
    Pillow shapes sequences with its bundled libraqm) with the installed
    Noto Color Emoji font, in colour. Each glyph is cropped to its
    bounding box, centred on a square of white (`BACKGROUND`) and
    resized with Lanczos filtering to `image_size`. Emoji that render to
    the same pixels as an earlier one (flags that share a design) are
    kept once. With the Debian 12 packages that is 1,861 images without
    skin-tone variants (3,641 with them; the share of each group is in
    the model card of `rin_emoji32`).

    Labels are the Unicode emoji groups (`EMOJI_GROUPS`: Smileys &
    Emotion, People & Body, ..., Flags), read from the same file. The
    split is fixed: 20% of each group is held out (seed 0), and the
    skin-tone variants of an emoji are always on the same side.

    Rendering the whole set takes a few seconds; the result is cached
    in `cache_dir` (default `~/.keras/datasets/keras_rin_emoji`), keyed
    by the font, the emoji list and the arguments, and written
    atomically. The same font and Pillow give the same pixels.

    Needs two Debian/Ubuntu packages (data only, installed by name):
    `apt install fonts-noto-color-emoji unicode-data`. The emoji images
    are Apache-2.0 and the font OFL-1.1; the font's own licence applies
    to the rendered images.

    Args:
        split: `"train"`, `"test"` (the held-out 20%) or `"all"`.
        image_size: the side of the square images, 8 to 128.
        include_skin_tones: also the five skin-tone variants of the
            people emoji (1,780 more images, most of them in People &
            Body). Off by default: they differ from each other only in
            colour and would make People & Body 59% of the data.
        font_path: the `NotoColorEmoji.ttf` file; found in the usual
            font folders when `None`.
        emoji_test_path: Unicode's `emoji-test.txt`; by default that of
            Debian's `unicode-data` package.
        cache_dir: where rendered sets are kept.
        return_emoji: also return the emoji themselves (strings).

    Returns:
        `(images, labels)`, or `(images, labels, emoji)`: uint8
        `(n, image_size, image_size, 3)`, int32 `(n,)` in
        `[0, len(EMOJI_GROUPS))` and an object array of strings.

    Example:
    ```python
    images, labels = keras_rin.data.load_emoji("train")
    names = keras_rin.data.EMOJI_GROUPS
    ```

    Reference:
    - [Noto Color Emoji](https://github.com/googlefonts/noto-emoji)
    - [Unicode emoji-test.txt](https://unicode.org/Public/emoji/latest/)
    """
    _check_arguments(split, image_size)
    font_path = _find_font(font_path)
    emoji_test_path = _find_emoji_test(emoji_test_path)
    emoji = _read_emoji_test(emoji_test_path, include_skin_tones)
    key = _cache_key(font_path, emoji_test_path, image_size, emoji)
    images, kept = _cached_render(key, cache_dir, font_path, emoji, image_size)
    emoji = [emoji[i] for i in kept]
    labels = np.array([e.group for e in emoji], dtype="int32")
    texts = np.array([e.text for e in emoji], dtype=object)
    if split != "all":
        is_held_out = _held_out_mask(emoji)
        keep = is_held_out if split == "test" else ~is_held_out
        images, labels, texts = images[keep], labels[keep], texts[keep]
    if return_emoji:
        return images, labels, texts
    return images, labels


def _check_arguments(split, image_size):
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or not 8 <= image_size <= 128
    ):
        raise ValueError(
            "`image_size` must be an integer from 8 to 128. Received: "
            f"image_size={image_size!r}"
        )


def _find_font(font_path):
    if font_path is not None:
        if not os.path.isfile(font_path):
            raise DataUnavailableError(
                f"`font_path` is not a file: {font_path!r}. Give the path "
                f"of {_FONT_FILE}, or install the font: apt install "
                "fonts-noto-color-emoji"
            )
        return os.path.abspath(font_path)
    for folder in _FONT_SEARCH:
        pattern = os.path.join(os.path.expanduser(folder), "**", _FONT_FILE)
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    raise DataUnavailableError(
        f"`load_emoji` needs the Noto Color Emoji font ({_FONT_FILE}), "
        f"found in none of {list(_FONT_SEARCH)}. Install it with `apt "
        "install fonts-noto-color-emoji` (Debian, Ubuntu), or download "
        "NotoColorEmoji.ttf from https://github.com/googlefonts/noto-emoji "
        "and pass `font_path`."
    )


def _find_emoji_test(emoji_test_path):
    candidates = (emoji_test_path,) if emoji_test_path else _EMOJI_TEST_SEARCH
    for path in candidates:
        if os.path.isfile(path):
            return os.path.abspath(path)
    given = f"`emoji_test_path`={emoji_test_path!r} is not a file. " * bool(
        emoji_test_path
    )
    raise DataUnavailableError(
        f"{given}`load_emoji` needs Unicode's emoji-test.txt, for the list "
        "of emoji and their groups. Install it with `apt install "
        "unicode-data` (Debian, Ubuntu), or download it from "
        "https://unicode.org/Public/emoji/latest/emoji-test.txt and pass "
        "`emoji_test_path`."
    )


def _read_emoji_test(path, include_skin_tones):
    """The fully-qualified emoji of `emoji-test.txt`, in file order."""
    emoji, group = [], None
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.startswith("# group:"):
                name = line.split(":", 1)[1].strip()
                group = (
                    EMOJI_GROUPS.index(name) if name in EMOJI_GROUPS else None
                )
                continue
            fields = line.split("#", 1)[0].split(";")
            if group is None or len(fields) != 2:
                continue
            if fields[1].strip() != "fully-qualified":
                continue
            text = "".join(chr(int(c, 16)) for c in fields[0].split())
            base = "".join(
                c
                for c in text
                if c not in _SKIN_TONES and c != _VARIATION_SELECTOR_16
            )
            has_skin_tone = any(c in _SKIN_TONES for c in text)
            if include_skin_tones or not has_skin_tone:
                emoji.append(_Emoji(text, group, base, has_skin_tone))
    if not emoji:
        raise ValueError(
            f"No fully-qualified emoji in any of {EMOJI_GROUPS} were found "
            f"in `emoji_test_path`={path!r}: expected Unicode's "
            "emoji-test.txt format."
        )
    return emoji


def _cache_key(font_path, emoji_test_path, image_size, emoji):
    digest = hashlib.sha256()
    for path in (font_path, emoji_test_path):
        with open(path, "rb") as file:
            digest.update(hashlib.sha256(file.read()).digest())
    digest.update("\n".join(e.text for e in emoji).encode("utf-8"))
    digest.update(f"{image_size}/{BACKGROUND}/{_RENDER_VERSION}".encode())
    try:
        import PIL

        digest.update(PIL.__version__.encode())
    except ImportError:
        pass
    return digest.hexdigest()[:20]


def _cached_render(key, cache_dir, font_path, emoji, image_size):
    cache_dir = os.path.expanduser(
        cache_dir or os.path.join("~", ".keras", "datasets", "keras_rin_emoji")
    )
    path = os.path.join(cache_dir, f"emoji_{image_size}_{key}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path) as cached:
                return cached["images"], cached["kept"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # A damaged cache is rendered again.
    images, kept = _render_emoji(font_path, [e.text for e in emoji], image_size)
    _save_atomically(path, images=images, kept=kept)
    return images, kept


def _save_atomically(path, **arrays):
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=os.path.dirname(path), suffix=".tmp"
        )
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except OSError:
        # The cache is a convenience: a full disk or a cache folder that
        # cannot be written must not fail the load.
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


def _render_emoji(font_path, texts, image_size):
    """Renders `texts` with the font at `font_path`.

    Returns `(images, kept)`: uint8 `(m, image_size, image_size, 3)` and
    the int64 indices into `texts` of the `m` that rendered to visible
    pixels different from every earlier one.
    """
    font = _open_font(font_path)
    images, kept, seen = [], [], set()
    for index, text in enumerate(texts):
        glyph = _render_glyph(font, text)
        if glyph is None:
            continue
        fingerprint = hashlib.sha256(glyph.tobytes()).digest()
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        images.append(_to_square(glyph, image_size))
        kept.append(index)
    shape = (len(images), image_size, image_size, 3)
    images = np.stack(images) if images else np.zeros(shape, "uint8")
    return images, np.array(kept, dtype="int64")


def _open_font(font_path):
    try:
        from PIL import ImageFont
    except ImportError as error:
        raise ImportError(
            "`load_emoji` needs Pillow: pip install pillow"
        ) from error
    try:
        return ImageFont.truetype(font_path, _FONT_SIZE)
    except OSError as error:
        raise ValueError(
            f"`font_path`={font_path!r} could not be opened as a font at "
            f"size {_FONT_SIZE} (Noto Color Emoji's only size): {error}"
        ) from error


def _render_glyph(font, text):
    """The glyph, cropped to its visible pixels, as an RGBA image; None
    when nothing is drawn or the text does not shape to one glyph."""
    from PIL import Image
    from PIL import ImageDraw

    left, top, right, bottom = font.getbbox(text)
    if right - left > _CANVAS or bottom - top > _CANVAS:
        return None  # Not shaped into one glyph.
    canvas = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text(
        (-left, -top), text, font=font, fill="black", embedded_color=True
    )
    visible = canvas.getchannel("A").getbbox()
    return canvas.crop(visible) if visible else None


def _to_square(glyph, image_size):
    from PIL import Image

    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), BACKGROUND + (255,))
    offset = ((side - glyph.width) // 2, (side - glyph.height) // 2)
    square.alpha_composite(glyph, offset)
    square = square.convert("RGB").resize(
        (image_size, image_size), Image.Resampling.LANCZOS
    )
    return np.asarray(square, dtype="uint8")


def _held_out_mask(emoji):
    """True for the held-out emoji: a stratified 20% of each group, by
    base emoji, so that skin-tone variants share their base's side.

    The emoji without skin tones are drawn first, exactly as when there
    are no variants, so that `include_skin_tones` does not move any of
    them to the other side; the bases that only variants have (the
    handshake and the couples of two skin tones: their plain emoji is
    another code point) are drawn after them."""
    rng = np.random.default_rng(_SPLIT_SEED)
    plain = list(dict.fromkeys(e.base for e in emoji if not e.has_skin_tone))
    known = set(plain)
    only_variants = [
        b for b in dict.fromkeys(e.base for e in emoji) if b not in known
    ]
    group_of = {e.base: e.group for e in emoji}
    held_out = set()
    for bases in (plain, only_variants):
        for group in range(len(EMOJI_GROUPS)):
            members = [b for b in bases if group_of[b] == group]
            count = int(round(_HELD_OUT_FRACTION * len(members)))
            chosen = rng.choice(len(members), count, replace=False)
            held_out.update(members[i] for i in chosen)
    return np.array([e.base in held_out for e in emoji], dtype=bool)
