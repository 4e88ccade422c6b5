"""Known-media matching: images generated here, hashed with PDQ, altered, matched against banks.

The alterations are the ones PDQ is built to survive (resize, re-encode, a 1% crop, a 1 degree
rotation, all of them together); docs/media.md lists what breaks a match (a 2% crop, a 2 degree
rotation on these images)."""

import asyncio
import io
import json
import random

import orjson
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageStat

from abusewatch.common.settings import IngestSettings
from abusewatch.ingest import contract
from abusewatch.scoring.language import LanguageIdentifier
from abusewatch.scoring.classify import IncomingMessage, PostClassifier
from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.media.banks import BankEntry, BankFileError, HashBanks, apply_update, read_bank_dir
from abusewatch.scoring.media.hashes import HashError, hash_file, pdq_distance, pdq_of_image
from abusewatch.scoring.media.settings import MediaSettings


def picture(seed: int) -> Image.Image:
    """A photo-like image: blurred random shapes on a random background."""
    rnd = random.Random(seed)
    image = Image.new("RGB", (512, 384), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rnd.randrange(480), rnd.randrange(350)
        box = (x0, y0, x0 + rnd.randrange(40, 260), y0 + rnd.randrange(40, 200))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=tuple(rnd.randrange(256) for _ in range(3)))
    return image.filter(ImageFilter.GaussianBlur(10))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    fill = tuple(int(v) for v in ImageStat.Stat(image).mean)
    return image.rotate(degrees, resample=Image.BICUBIC, fillcolor=fill)


ALTERATIONS = {
    "resize": lambda i: i.resize((256, 192)),
    "upscale": lambda i: i.resize((1024, 768)),
    "jpeg_q30": lambda i: _jpeg(i, 30),
    "crop_1pct": lambda i: i.crop((5, 4, 507, 380)),
    "rotate_1deg": lambda i: _rotate(i, 1),
    "all_together": lambda i: _rotate(_jpeg(i.resize((400, 300)).crop((4, 3, 396, 297)), 50), 1),
}
SEEDS = range(6)


def _item(image: Image.Image, **extra) -> dict:
    pdq, quality = pdq_of_image(image)
    return {"type": "image", "pdq": {"hash": pdq, "quality": quality}, **extra}


@pytest.fixture(scope="module")
def originals():
    return {seed: picture(seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def banks(originals):
    entries = [BankEntry("ncii", "pdq", pdq_of_image(image)[0], f"case-{seed}") for seed, image in originals.items()]
    return HashBanks(entries, MediaSettings(flood_min_matches=10_000))


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_altered_copies_match_their_original_within_the_threshold(originals, banks, alteration):
    posts = [([_item(ALTERATIONS[alteration](image))], 0.0) for image in originals.values()]
    for seed, check in zip(SEEDS, banks.check(posts), strict=True):
        entry_ids = [match["entry_id"] for match in check.matches]
        assert entry_ids == [f"case-{seed}"], (alteration, seed, check)
        assert check.matches[0]["distance"] <= 31


def test_unrelated_images_do_not_match(banks):
    posts = [([_item(picture(seed))], 0.0) for seed in range(100, 120)]
    assert all(check.matches == () for check in banks.check(posts))


def test_unrelated_images_are_far_apart(originals):
    hashes = [pdq_of_image(image)[0] for image in originals.values()]
    assert min(pdq_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]) > 31


def test_a_pdq_hash_below_the_quality_floor_is_not_matched(originals, banks):
    item = _item(originals[0])
    item["pdq"]["quality"] = 10
    (check,) = banks.check([([item], 0.0)])
    assert check.matches == () and check.low_quality == 1 and check.checked == 1


def test_md5_matches_exactly_and_a_post_without_media_has_no_check(tmp_path):
    banks = HashBanks([BankEntry("platform-removed", "md5", "ab" * 16)], MediaSettings())
    checks = banks.check([([{"type": "video", "md5": "AB" * 16}], 0.0), ([{"type": "video", "md5": "cd" * 16}], 0.0),
                          ([], 0.0)])
    assert [m["bank"] for m in checks[0].matches] == ["platform-removed"] and checks[0].matches[0]["distance"] == 0
    assert checks[1].matches == () and checks[2] is None


def test_hash_file_gives_a_valid_media_item(tmp_path, originals):
    path = tmp_path / "a.png"
    originals[0].save(path)
    item = hash_file(path)
    assert item["pdq"]["hash"] == pdq_of_image(originals[0])[0]
    post = {"post_id": "p", "author_id": "a", "text": "t", "created_at": "2026-11-21T09:00:00Z", "media": [item]}
    contract.validate("posts", post)


def test_bank_files_are_read_and_bad_lines_named(tmp_path):
    (tmp_path / "ncii.jsonl").write_text('# comment\n{"signal_type": "pdq", "hash": "' + "0f" * 32 + '"}\n\n'
                                         '{"signal_type": "md5", "hash": "' + "aa" * 16 + '", "entry_id": "x"}\n')
    assert read_bank_dir(tmp_path) == [BankEntry("ncii", "pdq", "0f" * 32), BankEntry("ncii", "md5", "aa" * 16, "x")]
    (tmp_path / "csam.jsonl").write_text('{"signal_type": "pdq", "hash": "abc"}\n')
    with pytest.raises(BankFileError, match="csam.jsonl:1"):
        read_bank_dir(tmp_path)
    (tmp_path / "csam.jsonl").write_text('{"signal_type": "md5", "hash": "' + "0f" * 32 + '"}\n')  # a pdq-length md5
    with pytest.raises(BankFileError, match="md5 hash must be 32 hex digits"):
        read_bank_dir(tmp_path)


def test_updates_add_and_remove_entries_in_place(originals):
    banks = HashBanks([], MediaSettings())
    item = _item(ALTERATIONS["resize"](originals[1]))
    assert banks.check([([item], 0.0)])[0].matches == ()
    update = json.loads((contract.SCHEMA_DIR / "examples" / "hash-bank-updates.json").read_text())
    update["entries"] = [{"signal_type": "pdq", "hash": pdq_of_image(originals[1])[0], "entry_id": "e1"}]
    contract.validate("hash-bank-updates", update)
    assert apply_update(banks, update) == 1
    assert [m["entry_id"] for m in banks.check([([item], 0.0)])[0].matches] == ["e1"]
    assert apply_update(banks, {**update, "op": "remove"}) == 1
    assert banks.check([([item], 0.0)])[0].matches == () and len(banks) == 0


def test_a_jump_in_an_entrys_match_rate_is_flagged_as_flooding(originals):
    banks = HashBanks([BankEntry("ncii", "pdq", pdq_of_image(originals[2])[0])],
                      MediaSettings(flood_window_s=60, flood_min_matches=5, flood_jump=3.0))
    post = ([_item(originals[2])], 0.0)
    first_window = [banks.check([(post[0], 1.0)])[0].matches[0]["flooding"] for _ in range(2)]
    second_window = [banks.check([(post[0], 61.0)])[0].matches[0]["flooding"] for _ in range(6)]
    assert first_window == [False, False]
    assert second_window == [False, False, False, False, False, True]  # 6 >= 5 and >= 3 x 2


def _scorer():
    async def score(texts):
        return [{label: 0.01 for label in LABELS} for _ in texts]
    return score


def test_the_classifier_writes_media_matches_into_valid_post_scores(originals, banks):
    classifier = PostClassifier(_scorer(), {"name": "m", "version": "1"}, IngestSettings(), banks,
                                language=LanguageIdentifier(["en"]))
    with_media = {"post_id": "p1", "author_id": "a", "text": "look @t", "created_at": "2026-11-21T09:00:00Z",
                  "reply_to_user_id": "t", "media": [_item(ALTERATIONS["jpeg_q30"](originals[3]), media_id="m1")]}
    without = {"post_id": "p2", "author_id": "a", "text": "hi", "created_at": "2026-11-21T09:00:00Z"}
    messages = [IncomingMessage(key=None, value=orjson.dumps(post), partition=0, offset=i)
                for i, post in enumerate([with_media, without])]
    batch = asyncio.run(classifier.classify(messages))
    by_id = {message["post_id"]: message for _, message in batch.scores}
    for message in by_id.values():
        contract.validate("post-scores", message)
    (match,) = by_id["p1"]["media_matches"]["matches"]
    assert match["bank"] == "ncii" and match["entry_id"] == "case-3" and match["media_id"] == "m1"
    assert "media_matches" not in by_id["p2"]


def test_bank_sizes_count_each_entry_once_through_additions_and_removals():
    pdq_a, pdq_b, md5 = "ab" * 32, "cd" * 32, "0f" * 16
    banks = HashBanks([BankEntry("ncii", "pdq", pdq_a, "e1"), BankEntry("ncii", "pdq", pdq_a),
                       BankEntry("ncii", "md5", md5), BankEntry("csam", "pdq", pdq_a)], MediaSettings())
    assert banks.sizes() == {"ncii": 2, "csam": 1} and len(banks) == 3
    assert banks.add([BankEntry("ncii", "md5", md5), BankEntry("ncii", "pdq", pdq_b, "e2")]) == 1
    assert banks.remove([BankEntry("csam", "pdq", pdq_a), BankEntry("csam", "md5", md5),
                         BankEntry("ncii", "md5", md5)]) == 2
    assert banks.sizes() == {"ncii": 2} and len(banks) == 2
    matches = banks.check([([{"type": "image", "pdq": {"hash": pdq_b, "quality": 100}}], 0.0)])[0].matches
    assert [(m["bank"], m["entry_id"]) for m in matches] == [("ncii", "e2")]


def test_a_batch_that_fails_midway_counts_no_match_rate_so_its_retry_counts_each_match_once(originals):
    pdq = pdq_of_image(originals[3])[0]
    banks = HashBanks([BankEntry("ncii", "pdq", pdq)], MediaSettings(flood_min_matches=2, flood_jump=1.0))
    good = ([{"type": "image", "pdq": {"hash": pdq, "quality": 100}}], 0.0)
    broken = ([{"type": "image", "md5": "not an md5"}], 0.0)  # fails after the first post's match is built
    with pytest.raises(HashError):
        banks.check([good, broken])
    # The classifier's retry, post by post: the first match of this entry, not its second.
    assert [m["flooding"] for m in banks.check([good])[0].matches] == [False]
    assert [m["flooding"] for m in banks.check([good])[0].matches] == [True]  # the second does count
