"""Photos of inspections and rectifications: checked by their content, stored by their hash,
compared with the enterprise where the camera said where it was.

A photo is accepted when its bytes are a JPEG, PNG or WebP image (judged by the magic bytes,
never by the file's name or the type the client declared) that Pillow decodes, within the
caller's size limit (``PHOTO_MAX_BYTES``) and ``MAX_PIXELS``. The bytes go to a ``PhotoStore``
under their SHA-256, so the same picture sent twice (a phone resending its queue) is one file;
the ``photo`` row says whose photo it is, who sent it, and, when the EXIF GPS block gave a
place, how far (metres, on the spheroid) it was taken from the enterprise: ``far_from_site``
from ``far_metres`` on, flagged, never refused, as for inspections (GPS indoors is poor).

``DiskStore`` is the default store (files under a folder); anything with the same three
methods (``put``, ``open``, ``exists``) may replace it, such as an object store.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridWatchError

# Media type -> (Pillow's format name, file extension).
FORMATS = {"image/jpeg": ("JPEG", "jpg"), "image/png": ("PNG", "png"),
           "image/webp": ("WEBP", "webp")}
# The most pixels a photo may have: a 50-megapixel phone photo passes; a small file declaring
# a huge canvas (a decompression bomb) is refused before it is decoded. Decoding a PNG or WebP
# of this size takes up to about 200 MB (JPEGs are decoded at an eighth of their size).
MAX_PIXELS = 50_000_000

_SHA256 = re.compile(r"[0-9a-f]{64}")


class PhotoRefused(GridWatchError):
    """The file is no photo we keep. ``code``: too_large (``size``, ``limit`` in bytes),
    too_many_pixels (``pixels``, ``limit``), not_image, damaged (``media_type``: what its
    first bytes claimed). ``file_name`` as sent, for the message."""

    def __init__(self, code: str, file_name: str | None, **params):
        super().__init__(f"{file_name or 'photo'}: refused ({code})")
        self.code = code
        self.file_name = file_name
        self.params = params


def sniff(data: bytes) -> str | None:
    """The media type the content's first bytes say (image/jpeg, image/png, image/webp), or
    None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check(data: bytes, max_bytes: int | None, file_name: str | None = None
          ) -> tuple[str, tuple[float, float] | None]:
    """(media type, EXIF location as (lon, lat) WGS 84 or None) of an acceptable photo;
    raises PhotoRefused otherwise. ``max_bytes``: the largest size accepted (None: no limit)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise PhotoRefused("too_large", file_name, size=len(data), limit=max_bytes)
    media_type = sniff(data)
    if media_type is None:
        raise PhotoRefused("not_image", file_name)
    from PIL import Image

    pillow_format = FORMATS[media_type][0]
    try:
        with warnings.catch_warnings():
            # Pillow's own guard (a warning, then an error at twice its limit): both refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as img:
                pixels = img.width * img.height
                if pixels > MAX_PIXELS:
                    raise PhotoRefused("too_many_pixels", file_name, pixels=pixels,
                                       limit=MAX_PIXELS)
                location = exif_location(img)
                if pillow_format == "JPEG":
                    # Decoding every block at 1/8 scale proves the data as well as a full
                    # decode does, in a sixty-fourth of the memory.
                    img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhotoRefused("too_many_pixels", file_name, pixels=None,
                           limit=MAX_PIXELS) from None
    except PhotoRefused:
        raise
    except Exception:  # noqa: BLE001 - whatever the decoder says, the file is not a photo
        raise PhotoRefused("damaged", file_name, media_type=media_type) from None
    if not _complete(data, media_type):
        # Pillow pads a cut-off image when another library (WeasyPrint does) has set its
        # global LOAD_TRUNCATED_IMAGES: the file's own end says whether it is whole.
        raise PhotoRefused("damaged", file_name, media_type=media_type)
    return media_type, location


def _complete(data: bytes, media_type: str) -> bool:
    if media_type == "image/jpeg":
        return data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    if media_type == "image/png":
        return b"IEND" in data[-16:]
    # WebP: the RIFF header says how long the file is.
    return len(data) >= 8 and int.from_bytes(data[4:8], "little") + 8 <= len(data)


_GPS_IFD = 0x8825
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4


def exif_location(img) -> tuple[float, float] | None:
    """Where the camera says the photo was taken: (lon, lat) in decimal degrees, WGS 84 (the
    datum GPS gives and EXIF assumes), south and west negative; None without a usable GPS
    block (missing, out of range, or 0, 0: a camera without a fix)."""
    try:
        gps = img.getexif().get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no location, not a bad photo
        return None
    try:
        lat = _degrees(gps[_LAT], gps.get(_LAT_REF), "S")
        lon = _degrees(gps[_LON], gps.get(_LON_REF), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None
    return lon, lat


def _degrees(dms, ref, negative: str) -> float:
    """Degrees, minutes, seconds (three rationals; fewer parts are taken as given) to decimal
    degrees, negative for the reference ``negative`` (S or W)."""
    parts = [float(v) for v in (dms if isinstance(dms, (tuple, list)) else (dms,))]
    value = sum(p / 60 ** i for i, p in enumerate(parts[:3]))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        value = -value
    return value


class PhotoStore(Protocol):
    """Where photos' bytes live, by their SHA-256 (64 lower-case hex digits)."""

    def put(self, data: bytes) -> str:
        """Keep ``data``; its SHA-256. The same bytes twice are kept once."""

    def open(self, sha256: str) -> bytes | Path:
        """The bytes (or a local file holding them); KeyError when not kept."""

    def exists(self, sha256: str) -> bool:
        ...


class DiskStore:
    """Photos as files under ``root``: ``root/ab/cdef….jpg`` for the hash ``abcdef…`` (the
    extension from the content, for people looking at the folder). Written to a temporary
    file in the same folder and renamed into place, so a reader never sees half a photo and
    two writers of the same photo leave one whole file."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _folder(self, sha256: str) -> Path:
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise KeyError(sha256)
        return self.root / sha256[:2]

    def _find(self, sha256: str) -> Path | None:
        folder = self._folder(sha256)
        for _fmt, ext in FORMATS.values():
            path = folder / f"{sha256[2:]}.{ext}"
            if path.is_file():
                return path
        path = folder / f"{sha256[2:]}.bin"
        return path if path.is_file() else None

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self._find(sha256) is not None:
            return sha256
        media_type = sniff(data)
        ext = FORMATS[media_type][1] if media_type else "bin"
        folder = self._folder(sha256)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / f"{sha256[2:]}.{ext}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256

    def open(self, sha256: str) -> Path:
        path = self._find(sha256)
        if path is None:
            raise KeyError(sha256)
        return path

    def exists(self, sha256: str) -> bool:
        try:
            return self._find(sha256) is not None
        except KeyError:
            return False


def clean_file_name(name: str | None) -> str | None:
    """The name a client gave its file, as we keep it: its last path part, without control
    characters, at most 200 characters; None when nothing is left."""
    if not name:
        return None
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or None


def add_photo(session: Session, store: PhotoStore, data: bytes, *,
              inspection_id: int | None = None, rectification_id: int | None = None,
              complaint_id: int | None = None,
              username: str | None, file_name: str | None, far_metres: float,
              max_bytes: int | None = None, checked: tuple | None = None) -> dict:
    """Keep a photo of an inspection, a rectification or a complaint (exactly one of the
    three; a complaint's is measured from the complaint's point) and add its row; the
    caller has authorized it. ``checked``: what ``check`` returned for ``data``, when the
    caller checked every file before keeping any. The same bytes already attached to
    the same inspection or rectification are not added twice (``created`` False): a phone
    resending its queue.

    Returns id, sha256, media_type, size, distance_m (metres from the enterprise, None
    without an EXIF location), far_from_site, exif_location ({lon, lat} or None), created."""
    if [inspection_id, rectification_id, complaint_id].count(None) != 2:
        raise ValueError("a photo belongs to an inspection, a rectification or a complaint")
    file_name = clean_file_name(file_name)
    media_type, location = checked or check(data, max_bytes, file_name)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = session.execute(text(f"""
        SELECT {_RETURNED} FROM photo
        WHERE sha256 = :h AND inspection_id IS NOT DISTINCT FROM :i
          AND rectification_id IS NOT DISTINCT FROM :r
          AND complaint_id IS NOT DISTINCT FROM :k
        ORDER BY id LIMIT 1"""), {"h": sha256, "i": inspection_id, "r": rectification_id,
                                   "k": complaint_id}).one_or_none()
    if existing is not None:
        if not store.exists(sha256):
            store.put(data)
        return _answer(existing, created=False)
    if store.put(data) != sha256:
        raise RuntimeError("the photo store returned another hash")
    lon, lat = location if location else (None, None)
    row = session.execute(text(f"""
        WITH site AS (
            SELECT e.geom FROM enterprise e WHERE e.id = coalesce(
                (SELECT enterprise_id FROM inspection WHERE id = :i),
                (SELECT enterprise_id FROM rectification WHERE id = :r))
            UNION ALL
            SELECT k.geom FROM complaint k WHERE k.id = :k
        ), shot AS (
            SELECT ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)),
                              4326) AS pt
        ), measured AS (
            SELECT shot.pt, ST_Distance(shot.pt::geography, site.geom::geography) AS d
            FROM shot LEFT JOIN site ON true
        )
        INSERT INTO photo (inspection_id, rectification_id, complaint_id, sha256, media_type,
                           size, file_name, username, exif_location, distance_m, far_from_site)
        SELECT :i, :r, :k, :h, :mt, :size, :fn, :u, pt, d, d >= :far FROM measured
        RETURNING {_RETURNED}"""), {
        "i": inspection_id, "r": rectification_id, "k": complaint_id, "h": sha256,
        "mt": media_type,
        "size": len(data), "fn": file_name, "u": username, "lon": lon, "lat": lat,
        "far": far_metres}).one()
    return _answer(row, created=True)


_RETURNED = """id, sha256, media_type, size, distance_m, far_from_site,
               ST_X(exif_location) AS lon, ST_Y(exif_location) AS lat"""


def _answer(row, *, created: bool) -> dict:
    return {"id": row.id, "sha256": row.sha256, "media_type": row.media_type,
            "size": row.size,
            "distance_m": None if row.distance_m is None else round(row.distance_m, 1),
            "far_from_site": row.far_from_site,
            "exif_location": None if row.lon is None else {"lon": row.lon, "lat": row.lat},
            "created": created}


def owner(session: Session, *, inspection_id: int | None = None,
          rectification_id: int | None = None) -> str | None:
    """The management code of the enterprise an inspection or rectification is about (where
    permission to add photos is judged); None when there is no such record."""
    if inspection_id is not None:
        sql = """SELECT e.management_code FROM inspection i
                 JOIN enterprise e ON e.id = i.enterprise_id WHERE i.id = :k"""
        key = inspection_id
    else:
        sql = """SELECT e.management_code FROM rectification r
                 JOIN enterprise e ON e.id = r.enterprise_id WHERE r.id = :k"""
        key = rectification_id
    return session.execute(text(sql), {"k": key}).scalar()


def photo(session: Session, photo_id: int) -> dict | None:
    """A photo's row with the management code of its enterprise (where reading it is
    judged): id, sha256, media_type, size, enterprise; None when there is no such photo."""
    row = session.execute(text("""
        SELECT p.id, p.sha256, p.media_type, p.size, e.management_code AS enterprise
        FROM photo p
        LEFT JOIN inspection i ON i.id = p.inspection_id
        LEFT JOIN rectification r ON r.id = p.rectification_id
        JOIN enterprise e ON e.id = coalesce(i.enterprise_id, r.enterprise_id)
        WHERE p.id = :p"""), {"p": photo_id}).one_or_none()
    return None if row is None else dict(row._mapping)
