"""Images from a folder: re-encoding to a byte size, the folder's order and labels, the class match, and the
one-line refusals (empty folder, unreadable image, a size no resolution reaches, a CSV naming missing files)."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

import nodes.image_resize as image_resize
from image_fixtures import digit_folder, fashion_folder
from models.preprocess import decode_image
from nodes.image_folder import (FolderImages, ImageFolderError, SentImage, folder_image_set, image_fields,
                                load_folder, per_round, round_items, round_of)
from nodes.image_labels import ClassMatcher, DATASET_CLASSES, model_class_names, read_labels_csv
from nodes.image_resize import ImageSizeError, resize_to_size


@pytest.fixture
def digits(tmp_path):
    return digit_folder(tmp_path / "digits", per_class=1, classes=range(4))


# --- re-encoding to a size -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size_bytes", [8 * 1024, 60 * 1024, 124 * 1024])
def test_resize_reaches_the_exact_size_and_records_how(size_bytes):
    image = Image.new("RGB", (40, 30))
    image.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(30) for x in range(40)])
    resized = resize_to_size(image, size_bytes)
    assert len(resized.data) == size_bytes
    assert image_resize.FILL_FRACTION * size_bytes <= resized.encoded_bytes <= size_bytes
    with Image.open(io.BytesIO(resized.data)) as decoded:  # a real JPEG at the recorded resolution
        assert decoded.format == "JPEG" and decoded.size == (resized.width_px, resized.height_px)
    assert abs(resized.width_px / resized.height_px - 40 / 30) < 0.05  # the photo's aspect kept
    assert decode_image(resized.data).shape == (1, 3, 32, 32)
    assert resize_to_size(image, size_bytes).data == resized.data  # deterministic


def test_a_size_no_resolution_reaches_is_one_line(monkeypatch):
    monkeypatch.setattr(image_resize, "MAX_PIXELS", 128 * 128)
    with pytest.raises(ImageSizeError) as err:
        resize_to_size(Image.new("RGB", (16, 16), (90, 90, 90)), 512 * 1024, "--images: flat.png")
    message = str(err.value)
    assert "\n" not in message and "flat.png" in message and "512K" in message and "as-is" in message


def test_too_small_a_size_is_refused():
    with pytest.raises(ImageSizeError, match="1024-byte minimum"):
        resize_to_size(Image.new("RGB", (16, 16)), 500)


# --- the folder ----------------------------------------------------------------------------------------------
def test_labels_from_folder_names_and_a_seeded_order(digits):
    folder = load_folder(digits)
    assert folder.label_source == "folders" and folder.labels == ["0", "1", "2", "3"]
    assert [i.label for i in folder.images] == ["0", "1", "2", "3"]
    orders = {tuple(i.relpath for i in folder.ordered(seed)) for seed in range(6)}
    assert len(orders) > 1  # the seed changes the order...
    assert folder.ordered(3) == folder.ordered(3)  # ...and the same seed gives the same


def test_resize_mode_sends_one_photo_per_round_at_every_size(digits, tmp_path):
    folder = load_folder(digits)
    cache = tmp_path / "cache"
    images = folder_image_set(folder, ["8K", "20K"], "resize", seed=1, rounds=6, cache_dir=cache)
    assert per_round(images) == 2 and len(images) == 4 * 2  # 6 rounds asked, the folder has 4 images
    first = round_items(images, 0)
    assert [s for s, _, _ in first] == [8192, 20480] and all(len(j) == s for s, j, _ in first)
    assert first[0][2]["image"] == first[1][2]["image"]  # the same photo at both sizes
    assert first[0][2]["true_label"] == first[0][2]["image"].split("/")[0]
    assert first[0][2]["image_width"] < first[1][2]["image_width"]
    assert round_items(images, 4) == first  # round 4 is round 0 again (4 images)
    assert len(list(cache.glob("*.jpg"))) == 8 and len(list(cache.glob("*.json"))) == 8
    again = folder_image_set(folder, ["8K", "20K"], "resize", seed=1, rounds=6, cache_dir=cache)
    assert [bytes(i[1]) for i in again] == [bytes(i[1]) for i in images]


def test_as_is_mode_sends_the_files_and_their_sizes(digits):
    folder = load_folder(digits)
    images = folder_image_set(folder, ["60K"], "as-is", seed=0, rounds=3)
    assert per_round(images) == 1 and len(images) == 3
    for item in images:
        fields = image_fields(item)
        assert item[1] == (digits / fields["image"]).read_bytes() and item[0] == len(item[1])
        assert fields["image_width"] == 32 and fields["image_encoded_bytes"] == item[0]


def test_synthetic_image_lists_are_one_round():
    plain = [(1024, b"a"), (2048, b"b")]
    assert round_of(plain, 5) == plain and per_round(plain) == 2
    assert image_fields(plain[0]) == {}
    mixed = FolderImages([SentImage(1, b"x", {"image": "a"}), SentImage(1, b"y", {"image": "b"})], per_round=1)
    assert [image_fields(i)["image"] for i in round_of(mixed, 1)] == ["b"]


def test_an_empty_folder_is_one_line(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(ImageFolderError, match="no .jpg, .jpeg or .png"):
        load_folder(tmp_path / "empty")
    with pytest.raises(ImageFolderError, match="no such folder"):
        load_folder(tmp_path / "missing")


def test_an_unreadable_image_is_named(digits):
    (digits / "3" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(ImageFolderError) as err:
        load_folder(digits)
    assert "3/broken.jpg" in str(err.value) and "\n" not in str(err.value)


def test_labels_from_a_csv(digits, tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("filename,label\n0/0-0.png,zero\n1-0.png,one\n")  # a path, and a bare unique name
    folder = load_folder(digits, csv_file)
    assert folder.label_source == "csv"
    assert {i.relpath: i.label for i in folder.images} == {"0/0-0.png": "zero", "1/1-0.png": "one", "2/2-0.png": "",
                                                          "3/3-0.png": ""}


def test_a_csv_naming_missing_files_is_one_line(digits, tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("0/0-0.png,0\nnot-there.png,7\nalso-gone.jpg,8\n")
    with pytest.raises(ImageFolderError) as err:
        load_folder(digits, csv_file)
    message = str(err.value)
    assert "2 filename(s)" in message and "not-there.png" in message and "\n" not in message
    csv_file.write_text("0/0-0.png\n")
    with pytest.raises(ImageFolderError, match="line 1: expected 'filename,label'"):
        load_folder(digits, csv_file)


def test_read_labels_csv_refuses_an_image_labelled_twice(tmp_path):
    csv_file = tmp_path / "l.csv"
    csv_file.write_text("a.png,cat\na.png,dog\n")
    with pytest.raises(Exception, match="labelled twice"):
        read_labels_csv(csv_file, ["a.png"])


# --- classes -------------------------------------------------------------------------------------------------
def test_a_label_matches_a_class_by_name_or_index():
    fashion = ClassMatcher(DATASET_CLASSES["fashion"])
    assert fashion.index_of("T-shirt top") == 0 and fashion.index_of("ankle_boot") == 9
    assert fashion.index_of("3") == 3 and fashion.index_of("giraffe") is None
    assert fashion.correct("Dress", 3) == "1" and fashion.correct("Dress", "4") == "0"
    assert fashion.correct("giraffe", 3) == "" and fashion.correct("", 3) == "" and fashion.correct("Dress", "") == ""
    assert ClassMatcher(DATASET_CLASSES["digits"]).unmatched(["3", "seven", "", "seven"]) == ["seven"]


def test_fashion_folder_names_are_fashion_classes_not_digits(tmp_path):
    root = fashion_folder(tmp_path / "fashion", count=3)
    if root is None:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    labels = load_folder(root).labels
    assert not ClassMatcher(DATASET_CLASSES["fashion"]).unmatched(labels)
    assert ClassMatcher(DATASET_CLASSES["digits"]).unmatched(labels) == labels


def test_model_class_names_from_the_card_the_data_set_or_unknown():
    manifest = {"dataset": {"name": "digits"},
                "models": {"cloudcnn": {}, "mine": {"source": "user file"}, "carded": {"source": "user file"}},
                "byo": {"cloud": {"name": "carded", "card": {"labels": ["cat", "dog"]}}}}
    assert model_class_names(manifest, "cloudcnn") == DATASET_CLASSES["digits"]
    assert model_class_names(manifest, "carded") == ("cat", "dog")
    assert model_class_names(manifest, "mine") is None
    manifest["models"]["mobilenetv2"] = {"outputs": [{"name": "probabilities", "shape": [None, 1000]}]}
    assert model_class_names(manifest, "mobilenetv2") is None  # 1000 outputs: not the digits' 10 classes
    manifest["models"]["cloudcnn"] = {"outputs": [{"name": "probabilities", "shape": [None, 10]}]}
    assert model_class_names(manifest, "cloudcnn") == DATASET_CLASSES["digits"]
    assert model_class_names(json.loads(json.dumps({"dataset": {"name": "other"}})), "x") is None
