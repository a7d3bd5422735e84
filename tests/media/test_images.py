"""Unit tests for tui_label.media.decode: layout, decoding awkward files, prefetching."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tests.helpers.images import REFUSED, cut_in_half, noise
from tui_label.media import decode as images
from tui_label.media.decode import BACKGROUND, Decoded, Geometry, Prefetcher, decode_for_display

ORIENTATION = 0x0112


def exact(width: int, height: int) -> Geometry:
    """A geometry whose layout target is exactly ``width x height`` (height even): no resize."""
    assert height % 2 == 0
    return Geometry(cols=width, rows=height // 2, cell=(10, 20), density=(1, 2))




def near(pixel, expected, tol: int = 12) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected, strict=True))




# --- Geometry.layout ------------------------------------------------------------------------


def test_layout_keeps_aspect_of_wide_image():
    cells, pixels = Geometry(80, 24).layout(200, 100)  # box 800x480 screen px
    assert cells == (80, 20)  # width-limited: 800x400 screen px
    assert pixels == (80, 40)
    assert pixels[0] / pixels[1] == pytest.approx(200 / 100)


def test_layout_keeps_aspect_of_tall_image():
    cells, pixels = Geometry(80, 24).layout(100, 200)  # height-limited: 240x480 screen px
    assert cells == (24, 24)
    assert pixels == (24, 48)
    assert pixels[1] / pixels[0] == pytest.approx(2.0)


@pytest.mark.parametrize("size", [(1, 1), (3, 1000), (1000, 3), (4000, 3000), (640, 480), (7, 9)])
@pytest.mark.parametrize("box", [(80, 24), (1, 1), (200, 60), (13, 7)])
def test_layout_fits_in_box(size, box):
    geometry = Geometry(*box)
    (cols, rows), (w, h) = geometry.layout(*size)
    assert 1 <= cols <= box[0]
    assert 1 <= rows <= box[1]
    assert (w, h) == (cols * geometry.density[0], rows * geometry.density[1])


def test_layout_fills_the_limiting_side():
    (cols, rows), _ = Geometry(80, 24).layout(4000, 3000)  # height-limited
    assert rows == 24
    (cols, rows), _ = Geometry(80, 24).layout(3000, 100)  # width-limited
    assert cols == 80


def test_layout_pixel_size_uses_density():
    geometry = Geometry(40, 20, cell=(8, 16), density=(8, 16))  # e.g. sixel: a cell's pixels
    cells, pixels = geometry.layout(640, 320)
    assert cells == (40, 10)
    assert pixels == (40 * 8, 10 * 16)


def test_layout_accounts_for_cell_shape():
    # Square image on square cells fills a square of cells; on 1:2 cells, half as many rows.
    assert Geometry(20, 20, cell=(10, 10), density=(1, 1)).layout(50, 50)[0] == (20, 20)
    assert Geometry(20, 20, cell=(10, 20), density=(1, 2)).layout(50, 50)[0] == (20, 10)


def test_geometry_is_hashable_and_compares_by_value():
    # The Prefetcher keys its cache on (id, geometry): equal boxes must share one entry, and a
    # different box, cell size or density must not.
    assert Geometry(10, 5) == Geometry(10, 5)
    assert hash(Geometry(10, 5)) == hash(Geometry(10, 5))
    cache = {Geometry(10, 5): "a"}
    cache[Geometry(10, 5)] = "b"
    assert cache == {Geometry(10, 5): "b"}
    others = [Geometry(10, 6), Geometry(11, 5), Geometry(10, 5, cell=(8, 16)),
              Geometry(10, 5, density=(10, 20))]
    for other in others:
        assert other != Geometry(10, 5) and other not in cache
    assert len({Geometry(10, 5), Geometry(10, 5), *others}) == 1 + len(others)


# --- decode_for_display: ordinary files -----------------------------------------------------


def test_decode_plain_rgb_jpeg(tmp_path):
    path = tmp_path / "plain.jpg"
    Image.new("RGB", (64, 32), (200, 30, 40)).save(path, quality=95)
    result = decode_for_display(path, Geometry(32, 8))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert (result.width, result.height) == (64, 32)
    assert result.image.size == Geometry(32, 8).layout(64, 32)[1]
    assert result.cells == Geometry(32, 8).layout(64, 32)[0]
    assert near(result.image.getpixel((5, 5)), (200, 30, 40))


def test_decode_large_jpeg_returns_layout_target_size(tmp_path):
    path = tmp_path / "large.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path)
    geometry = Geometry(80, 24)
    result = decode_for_display(path, geometry)
    assert result.error is None
    assert (result.width, result.height) == (4000, 3000)  # original size, not the draft's
    cells, target = geometry.layout(4000, 3000)
    assert result.image.size == target
    assert result.cells == cells


def test_decode_large_jpeg_uses_draft_mode(tmp_path, monkeypatch):
    path = tmp_path / "large.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path)
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        calls.append((mode, size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    geometry = Geometry(80, 24)
    result = decode_for_display(path, geometry)
    assert result.error is None
    assert len(calls) == 1
    _, _, drafted = calls[0]
    target = geometry.layout(4000, 3000)[1]
    assert drafted[0] < 4000 and drafted[1] < 3000  # libjpeg scaled down while decoding
    assert drafted[0] >= target[0] and drafted[1] >= target[1]  # still covers the box


def test_decode_small_image_is_enlarged_with_crisp_pixels(tmp_path):
    path = tmp_path / "tiny.png"
    tiny = Image.new("RGB", (2, 2), (255, 0, 0))
    tiny.putpixel((1, 1), (0, 0, 255))
    tiny.save(path)
    result = decode_for_display(path, exact(20, 20))
    assert result.image.size == (20, 20)
    assert {c for _, c in result.image.getcolors()} == {(255, 0, 0), (0, 0, 255)}


# --- decode_for_display: orientation and colour modes ---------------------------------------


@pytest.fixture
def oriented_jpeg(tmp_path) -> Path:
    """200x100 as stored (left half red, right half blue), EXIF orientation 6 (90 deg CW)."""
    stored = Image.new("RGB", (200, 100), (255, 0, 0))
    stored.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "oriented.jpg"
    stored.save(path, exif=exif, quality=95)
    return path


def test_decode_exif_orientation_reports_oriented_size(oriented_jpeg):
    result = decode_for_display(oriented_jpeg, Geometry(20, 20))
    assert result.error is None
    assert (result.width, result.height) == (100, 200)


def test_decode_exif_orientation_comes_back_taller_than_wide(oriented_jpeg):
    geometry = Geometry(20, 20)
    result = decode_for_display(oriented_jpeg, geometry)
    assert result.image.height > result.image.width
    assert result.image.size == geometry.layout(100, 200)[1]


def test_decode_exif_orientation_rotates_clockwise(oriented_jpeg):
    image = decode_for_display(oriented_jpeg, Geometry(20, 20)).image
    # Rotating 90 degrees clockwise brings the stored left half (red) to the top.
    assert near(image.getpixel((image.width // 2, 2)), (255, 0, 0), tol=40)
    assert near(image.getpixel((image.width // 2, image.height - 3)), (0, 0, 255), tol=40)


def test_decode_cmyk_jpeg_comes_back_rgb_with_sensible_colours(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (255, 0, 0, 0)).save(path, quality=95)  # pure cyan ink
    assert Image.open(path).mode == "CMYK"
    result = decode_for_display(path, exact(32, 32))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert near(result.image.getpixel((16, 16)), (0, 255, 255), tol=20)


def test_decode_16bit_greyscale_png_spreads_full_range(tmp_path):
    path = tmp_path / "grey16.png"
    ramp = np.linspace(1000, 3000, 64 * 32).reshape(32, 64).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    result = decode_for_display(path, exact(64, 32))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert result.image.getextrema() == ((0, 255), (0, 255), (0, 255))
    left, right = result.image.getpixel((0, 0)), result.image.getpixel((63, 31))
    assert left[0] < right[0]  # the ramp keeps its direction


def test_decode_16bit_big_endian_greyscale_tiff(tmp_path):
    path = tmp_path / "grey16be.tif"
    ramp = np.linspace(1000, 3000, 64 * 32).reshape(32, 64).astype(">u2")
    Image.frombytes("I;16B", (64, 32), ramp.tobytes()).save(path)
    assert Image.open(path).mode == "I;16B"
    result = decode_for_display(path, exact(64, 32))
    assert result.error is None
    assert result.image.getextrema() == ((0, 255), (0, 255), (0, 255))


def test_decode_palette_png_with_transparency_uses_background(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    image.paste(1, (2, 0, 4, 4))  # right half: palette index 1 (red)
    image.save(path, transparency=0)  # index 0 is transparent
    result = decode_for_display(path, exact(4, 4))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert result.image.getpixel((0, 0)) == BACKGROUND
    assert result.image.getpixel((3, 3)) == (255, 0, 0)


def test_decode_rgba_png_flattens_onto_background(tmp_path):
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    image.paste((0, 200, 0, 255), (2, 0, 4, 4))  # right half opaque green
    image.save(path)
    result = decode_for_display(path, exact(4, 4))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert result.image.getpixel((0, 0)) == BACKGROUND
    assert result.image.getpixel((3, 3)) == (0, 200, 0)


def test_decode_animated_gif_takes_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(path, save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    result = decode_for_display(path, exact(8, 8))
    assert result.error is None
    assert result.image.mode == "RGB"
    assert near(result.image.getpixel((4, 4)), (255, 0, 0), tol=2)


# --- decode_for_display: failures become errors ---------------------------------------------


def test_decode_bomb_at_warning_level_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "warn.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(path)  # 1600 px: above MAX, below 2*MAX
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    result = decode_for_display(path, Geometry(20, 10))
    assert isinstance(result, Decoded)
    assert result.image is None
    assert result.error
    assert "bomb" in result.error


def test_decode_bomb_above_twice_the_limit_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("RGB", (50, 50), (1, 2, 3)).save(path)  # 2500 px: above 2*MAX
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    result = decode_for_display(path, Geometry(20, 10))
    assert result.image is None
    assert result.error and "decompression bomb" in result.error


def test_decode_bomb_warning_is_an_error_while_another_decode_finishes(tmp_path, monkeypatch):
    """The Prefetcher decodes on two threads at once: a decode that ends while another is
    running must not undo the other's "bomb warning is an error" setting."""
    ok, bomb = tmp_path / "ok.png", tmp_path / "warn.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(ok)
    Image.new("RGB", (40, 40), (1, 2, 3)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    real_open = Image.open

    def ordered_open(fp, *args, **kwargs):
        if Path(fp) == ok:  # A: wait until B has started decoding too
            a_inside.set()
            b_inside.wait(5)
        else:  # B: let A finish first
            b_inside.set()
            a_done.wait(5)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", ordered_open)
    results = {}

    def run_a():
        results["a"] = decode_for_display(ok, Geometry(8, 4))
        a_done.set()

    def run_b():
        results["b"] = decode_for_display(bomb, Geometry(20, 10))

    thread_a = threading.Thread(target=run_a)
    thread_b = threading.Thread(target=run_b)
    thread_a.start()
    assert a_inside.wait(5)
    thread_b.start()
    thread_a.join(10)
    thread_b.join(10)
    assert results["a"].error is None
    assert results["b"].image is None
    assert results["b"].error and "bomb" in results["b"].error


def test_decode_truncated_jpeg_is_an_error(tmp_path):
    path = tmp_path / "cut.jpg"
    noise((256, 256)).save(path, quality=90)
    cut_in_half(path)
    result = decode_for_display(path, Geometry(40, 20))
    assert result.image is None
    assert result.error and "truncated" in result.error


def test_decode_truncated_png_is_an_error(tmp_path):
    path = tmp_path / "cut.png"
    noise((256, 256)).save(path)
    cut_in_half(path)
    result = decode_for_display(path, Geometry(40, 20))
    assert result.image is None
    assert result.error and "truncated" in result.error


def test_decode_non_image_with_jpg_extension_is_an_error(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("this is not a JPEG\n" * 20)
    result = decode_for_display(path, Geometry(40, 20))
    assert result.image is None
    assert result.error


def test_decode_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    result = decode_for_display(path, Geometry(40, 20))
    assert result.image is None
    assert result.error


def test_decode_missing_file_is_an_error(tmp_path):
    result = decode_for_display(tmp_path / "nope.jpg", Geometry(40, 20))
    assert result.image is None
    assert result.error


# --- Prefetcher -----------------------------------------------------------------------------


class RecordingLoader:
    """A fake loader: remembers its calls and the thread they ran on."""

    def __init__(self):
        self.calls: list[tuple[Path, Geometry]] = []
        self.threads: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, path: Path, geometry: Geometry) -> Decoded:
        with self.lock:
            self.calls.append((path, geometry))
            self.threads.append(threading.get_ident())
        return Decoded(Image.new("RGB", (1, 1)), 1, 1, cells=(1, 1))


@pytest.fixture
def loader():
    return RecordingLoader()


@pytest.fixture
def prefetcher(loader):
    p = Prefetcher(loader, workers=2, keep=3)
    yield p
    p.close()


def test_prefetcher_same_key_returns_same_future(prefetcher, loader):
    g = Geometry(40, 20)
    first = prefetcher.request(1, Path("a.jpg"), g)
    first.result(5)
    assert prefetcher.request(1, Path("a.jpg"), Geometry(40, 20)) is first
    assert len(loader.calls) == 1


def test_prefetcher_other_geometry_returns_other_future(prefetcher, loader):
    first = prefetcher.request(1, Path("a.jpg"), Geometry(40, 20))
    second = prefetcher.request(1, Path("a.jpg"), Geometry(80, 24))
    assert second is not first
    first.result(5), second.result(5)
    assert sorted(g.cols for _, g in loader.calls) == [40, 80]


def test_prefetcher_other_id_returns_other_future(prefetcher):
    g = Geometry(40, 20)
    assert prefetcher.request(1, Path("a.jpg"), g) is not prefetcher.request(2, Path("b.jpg"), g)


def test_prefetcher_future_holds_loader_result(prefetcher):
    result = prefetcher.request(1, Path("a.jpg"), Geometry(40, 20)).result(5)
    assert isinstance(result, Decoded)
    assert result.cells == (1, 1)


def test_prefetcher_runs_loader_off_calling_thread(prefetcher, loader):
    prefetcher.request(1, Path("a.jpg"), Geometry(40, 20)).result(5)
    assert loader.threads and threading.get_ident() not in loader.threads


def test_prefetcher_passes_path_and_geometry_to_loader(prefetcher, loader):
    g = Geometry(33, 11)
    prefetcher.request(7, Path("x/y.png"), g).result(5)
    assert loader.calls == [(Path("x/y.png"), g)]


def test_prefetcher_evicts_beyond_keep(prefetcher, loader):
    g = Geometry(40, 20)
    futures = [prefetcher.request(i, Path(f"{i}.jpg"), g) for i in range(4)]  # keep=3
    for f in futures:
        f.result(5)
    assert prefetcher.request(3, Path("3.jpg"), g) is futures[3]  # still kept
    again = prefetcher.request(0, Path("0.jpg"), g)  # the oldest was dropped
    assert again is not futures[0]
    again.result(5)
    assert [p.name for p, _ in loader.calls].count("0.jpg") == 2


def test_prefetcher_rerequest_refreshes_recency(prefetcher):
    g = Geometry(40, 20)
    f0 = prefetcher.request(0, Path("0.jpg"), g)
    prefetcher.request(1, Path("1.jpg"), g)
    prefetcher.request(2, Path("2.jpg"), g)
    assert prefetcher.request(0, Path("0.jpg"), g) is f0  # 0 becomes the newest
    prefetcher.request(3, Path("3.jpg"), g)  # evicts 1, not 0
    assert prefetcher.request(0, Path("0.jpg"), g) is f0


def test_prefetcher_forget_drops_every_geometry_of_an_image(prefetcher):
    small, large = Geometry(40, 20), Geometry(80, 24)
    a = prefetcher.request(1, Path("a.jpg"), small)
    b = prefetcher.request(1, Path("a.jpg"), large)
    prefetcher.forget(1)
    assert prefetcher.request(1, Path("a.jpg"), small) is not a
    assert prefetcher.request(1, Path("a.jpg"), large) is not b


def test_prefetcher_default_loader_decodes_real_files(tmp_path):
    path = tmp_path / "real.png"
    Image.new("RGB", (16, 8), (9, 8, 7)).save(path)
    p = Prefetcher(keep=2)
    try:
        result = p.request(1, path, Geometry(16, 4)).result(10)
    finally:
        p.close()
    assert result.error is None
    assert result.image.size == (16, 8)


def test_truncated_images_stay_an_error_when_a_library_allows_them(tmp_path, monkeypatch):
    """Pillow's truncation switch is a process-wide global that any library may turn on; the
    decode path still refuses truncated files, for display and for training."""
    import PIL.ImageFile

    path = tmp_path / "cut.png"
    noise((256, 256)).save(path)
    cut_in_half(path)
    monkeypatch.setattr(PIL.ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    result = decode_for_display(path, Geometry(40, 20))
    assert result.image is None and "truncated" in result.error
    monkeypatch.setattr(PIL.ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    result = images.decode_square(path, 16)
    assert result.image is None and "truncated" in result.error


def test_decoded_error_file_keeps_size_zero(tmp_path):
    result = decode_for_display(tmp_path / "nope.png", Geometry(10, 5))
    assert (result.width, result.height, result.cells) == (0, 0, (0, 0))


# --- one decode path: training refuses and accepts exactly what the labeler does ---------------


















def _grey16(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "grey16.png"
    Image.fromarray(np.linspace(1000, 3000, 64 * 32).reshape(32, 64).astype(np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    return path


def _grey16_big_endian(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "grey16be.tif"
    ramp = np.linspace(1000, 3000, 64 * 32).reshape(32, 64).astype(">u2")
    Image.frombytes("I;16B", (64, 32), ramp.tobytes()).save(path)
    return path


def _cmyk(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (255, 0, 0, 0)).save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    return path


def _exif_rotated(tmp_path: Path, monkeypatch) -> Path:
    stored = Image.new("RGB", (200, 100), (255, 0, 0))
    stored.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "oriented.jpg"
    stored.save(path, exif=exif, quality=95)
    return path


def _palette_transparent(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "palette.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    image.paste(1, (2, 0, 4, 4))
    image.save(path, transparency=0)
    return path


def _rgba(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    image.paste((0, 200, 0, 255), (2, 0, 4, 4))
    image.save(path)
    return path


def _animated(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "anim.gif"
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(path, save_all=True, append_images=[blue], duration=100, loop=0)
    return path


ACCEPTED = {"16-bit": _grey16, "16-bit-big-endian": _grey16_big_endian, "cmyk": _cmyk,
            "exif-rotated": _exif_rotated, "palette-transparent": _palette_transparent,
            "rgba": _rgba, "animated": _animated}


@pytest.mark.parametrize("make", REFUSED.values(), ids=REFUSED.keys())
def test_training_refuses_what_the_display_refuses(tmp_path, monkeypatch, make):
    path = make(tmp_path, monkeypatch)
    shown = decode_for_display(path, Geometry(40, 20))
    trained = images.decode_square(path, 16)
    assert shown.image is None and shown.error
    assert trained.image is None
    assert trained.error == shown.error  # one path, one reason
    with pytest.raises(images.DecodeError) as info:
        images.open_image(path, 16)
    assert str(info.value) == shown.error and "\n" not in shown.error


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_training_sees_the_pixels_the_display_shows(tmp_path, monkeypatch, make):
    """Same orientation, colour conversion and frame: the training square is the displayed
    image (at full size) centre-cropped to its shorter side."""
    path = make(tmp_path, monkeypatch)
    probe = images.open_image(path)
    width, height = probe.width, probe.height
    shown = decode_for_display(path, exact(width, height))
    assert shown.error is None and shown.image.size == (width, height)
    side = min(width, height)
    trained = images.decode_square(path, side)
    assert trained.error is None
    assert (trained.width, trained.height) == (width, height)
    assert trained.image.mode == "RGB" and trained.image.size == (side, side)
    left, top = (width - side) // 2, (height - side) // 2
    expected = shown.image.crop((left, top, left + side, top + side))
    assert np.array_equal(np.asarray(trained.image), np.asarray(expected))


def test_training_square_follows_exif_orientation(tmp_path, monkeypatch):
    path = _exif_rotated(tmp_path, monkeypatch)  # stored 200x100 red|blue, shown 100x200
    square = images.decode_square(path, 20).image
    assert square.size == (20, 20)
    # Rotated clockwise: red on top, blue below (stored unrotated it would be red|blue).
    assert near(square.getpixel((10, 2)), (255, 0, 0), tol=40)
    assert near(square.getpixel((10, 17)), (0, 0, 255), tol=40)


def test_training_square_of_a_large_jpeg_uses_draft_mode(tmp_path, monkeypatch):
    path = tmp_path / "large.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path)
    drafted = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    result = images.decode_square(path, 64)
    assert result.error is None and result.image.size == (64, 64)
    assert (result.width, result.height) == (4000, 3000)
    assert len(drafted) == 1 and 64 <= min(drafted[0]) and max(drafted[0]) < 4000
