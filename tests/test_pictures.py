"""Profile pictures (issue #17): sent with #profile, made anew as a small JPEG; people/<handle>.jpg checked
by reading, by the hook, and kept by the gateway in a commit authored by the person."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pygit2
from mailtest import DOMAIN, Harness, git, git_root, mail
from PIL import Image

from generator.builder import build_site
from intranet.format import PICTURE_MAX_BYTES, path_key, post_relpath, read_intranet
from intranet.gate import check_update
from mailgateway.pictures import SIDE, profile_picture

ANN = "ann.lee@example.org"


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (with a right checksum) says ``width``×``height``, with no pixels to speak of."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_picture_is_made_anew_upright_small_and_without_what_the_sent_file_carried() -> None:
    photo = Image.new("RGB", (1600, 800), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turned a quarter
    exif[0x010E] = "SECRET description, with the place it was taken"
    sent = encoded(photo, "JPEG", exif=exif) + b"<script>alert(1)</script>"  # and something hidden after it
    data, why = profile_picture(sent)
    assert data is not None and why == ""
    assert b"SECRET" not in data and b"Exif" not in data and b"<script>" not in data
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.format == "JPEG" and kept.size == (SIDE // 2, SIDE)  # upright: taller than wide
    transparent = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    data, why = profile_picture(encoded(transparent, "PNG"))
    assert data is not None
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.size == (100, 60) and kept.getpixel((5, 5)) == (255, 255, 255)  # small stays small; white


def test_what_is_not_a_picture_or_is_too_big_to_decode_is_refused_before_decoding() -> None:
    assert profile_picture(b"<html>not a picture</html>") == (None, "it is not a JPEG, PNG, GIF or WebP picture")
    assert profile_picture(encoded(Image.new("RGB", (10, 10)), "BMP"))[0] is None  # a format not taken
    data, why = profile_picture(png_claiming(10_000, 5_000))  # 50 million: refused by its header
    assert data is None and "10000×5000" in why
    data, why = profile_picture(png_claiming(60_000, 60_000))
    assert data is None and "far too many pixels" in why
    cut = encoded(Image.new("RGB", (300, 300), (1, 2, 3)), "PNG")[:200]
    assert profile_picture(cut)[0] is None


def test_reading_and_the_hook_take_one_checked_picture_of_someone(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    git(root, "checkout", "-q", "-b", "pictures")
    picture = encoded(Image.new("RGB", (40, 40)), "JPEG")
    (root / "people/ann.lee.jpg").write_bytes(picture)
    (root / "people/bo.chen.png").write_bytes(picture)  # a JPEG named .png
    (root / "people/nobody.jpg").write_bytes(picture)
    (root / "people/sup.desk.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * PICTURE_MAX_BYTES)
    (root / "people/notes.txt").write_text("not a person")
    git(root, "add", "-A")
    git(root, "-c", "user.name=Ed", "-c", "user.email=ed@example.org", "commit", "-qm", "Pictures")
    intranet = read_intranet(root)
    assert intranet.people["ann.lee"].picture == "people/ann.lee.jpg"
    assert intranet.people["bo.chen"].picture == "" and intranet.people["sup.desk"].picture == ""
    found = {p.path: p.message for p in intranet.problems}
    assert set(found) == {"people/bo.chen.png", "people/nobody.jpg", "people/sup.desk.jpg", "people/notes.txt"}
    assert "first bytes" in found["people/bo.chen.png"] and "picture of nobody" in found["people/nobody.jpg"]
    assert "at most 1,000,000 bytes" in found["people/sup.desk.jpg"] and ".yml files" in found["people/notes.txt"]
    repo = pygit2.Repository(str(root))
    at_the_door = check_update(repo, str(repo.revparse_single("main").id), str(repo.head.target))
    assert {p.path: p.message for p in at_the_door} == found  # the hook says what reading says


def test_a_picture_sent_with_profile_becomes_ones_own_in_a_commit_of_ones_own(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    update = mail(subject="me", body="#profile\nrole: Night nurse", sender=f"Ann Lee <{ANN}>")
    update.add_attachment(encoded(Image.new("RGB", (900, 900), (0, 90, 90)), "PNG"), "image", "png", filename="me.png")
    fake = mail(subject="me", body="#profile", sender=f"Ann Lee <{ANN}>")
    fake.add_attachment(b"<svg onload=alert(1)>", "image", "png", filename="me.png")
    with Harness(root) as gw:
        gw.send(update, f"handover@{DOMAIN}", sender=ANN)
        [done] = gw.wait(update["Message-ID"])
        assert done["changed"] == ["role", "picture"]
        gw.send(fake, f"handover@{DOMAIN}", sender=ANN)
        [refused] = gw.wait(fake["Message-ID"])
        assert refused["changed"] == []
        receipts = [m for m in gw.outbox() if "Your profile" in str(m["Subject"])]
        assert git(root, "status", "--porcelain") == ""
    assert git(root, "log", "-1", "--format=%an <%ae>|%s", "--", "people/ann.lee.jpg").strip() == (
        f"Ann Lee <{ANN}>|people: Ann Lee changed their picture by email"
    )
    with Image.open(root / "people/ann.lee.jpg") as kept:
        assert kept.format == "JPEG" and kept.size == (SIDE, SIDE)
    assert read_intranet(root).people["ann.lee"].picture == "people/ann.lee.jpg"
    build_site(root)  # shown: on her profile, and beside her posts instead of her initials
    staff = root / "site" / "staff"
    assert (staff / "people/ann.lee/picture.jpg").read_bytes() == (root / "people/ann.lee.jpg").read_bytes()
    profile = (staff / "people/ann.lee/index.html").read_text()
    assert '<img class="intranet-picture" src="picture.jpg" alt="Picture of Ann Lee"' in profile
    topic = (
        staff / f"c/handover/t/{path_key(post_relpath('handover', '<t1@example.org>'))[:12]}/index.html"
    ).read_text()
    assert '<img class="intranet-avatar" src="../../../../people/ann.lee/picture.jpg" alt=""' in topic
    assert '<span class="intranet-avatar" aria-hidden="true">BC</span>' in topic  # (Bo has none: initials)
    texts = sorted(m.get_body(("plain",)).get_content() for m in receipts)
    assert any("picture: now the one you sent" in t for t in texts)
    assert any("Not taken: the picture: it is not a JPEG, PNG, GIF or WebP picture." in t for t in texts)
