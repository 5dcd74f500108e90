"""Enterprise CSVs in encodings other than UTF-8/GBK are refused, naming the line (issue 10):
Big5 and Shift-JIS bytes decode as GB18030 without an error, so plausibility is judged."""
import pytest
from sqlalchemy import text

from gis.enterprises import import_enterprises
from gis.tables import TableRefused, decode_text, implausible_line

HEADER = "management_code,name,credit_code,address,industry,grade,contact_name,contact_phone,lon,lat"  # noqa: E501
BIG5_ROWS = [  # Traditional Chinese, as a Taiwan or Hong Kong office would save it
    "HJ001,河間市康利電纜有限公司,91350100M000100Y43,瀛州路1號,電線電纜,B,張三,13800000001,116.02,38.45",
    "HJ002,臺北市信義區百吉汽車配件股份有限公司,,沙河橋鎮,汽車零部件,D,李四,13800000002,116.08,38.45",
]
SJIS_ROWS = [
    "HJ003,株式会社山田製作所,,東京都千代田区丸の内一丁目,電子部品,B,山田太郎,0312345678,116.02,38.45",
    "HJ004,さくら食品工業株式会社,,大阪府大阪市北区梅田,食品,C,佐藤花子,0612345678,116.03,38.45",
]
LATIN1_ROWS = [
    "HJ005,Boulangerie Pâtisserie Hélène,,3 place de la Mairie,Alimentation,C,Jérôme Lefèvre,0123456780,116.03,38.45",  # noqa: E501
    "HJ006,Société Générale des Câbles,,12 rue de l'Église,Électricité,B,François Dupré,0123456789,116.02,38.45",  # noqa: E501
]
GBK_ROWS = [  # Simplified Chinese with a few rare characters in names, as Excel saves it
    "HJ001,河间市康利电缆有限公司,91350100M000100Y43,瀛州路1号,电线电缆,B,张三,13800000001,116.02,38.45",
    "HJ002,河间市瀛州镇喆堃汽配有限公司,,沙河桥镇府前街18号,汽车零部件,D,王喆,13800000002,116.08,38.45",
    "HJ007,沧州市鑫磊塑胶制品厂,,河间市米各庄镇,塑料制品,C,赵珺,13800000003,116.1,38.4",
    "HJ008,河间市“诚信”五金—机电商行,,府前街（东段）,五金·机电,A,孙堃,13800000004,116.05,38.44",
]


def write(tmp_path, rows, encoding):
    path = tmp_path / "e.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode(encoding))
    return path


def count(session):
    return session.execute(text("SELECT count(*) FROM enterprise")).scalar()


@pytest.mark.parametrize("rows, encoding", [(BIG5_ROWS, "big5"), (SJIS_ROWS, "shift_jis"),
                                            (LATIN1_ROWS, "latin-1")])
def test_other_encodings_are_refused_naming_the_line(session, tmp_path, rows, encoding):
    with pytest.raises(TableRefused) as err:
        import_enterprises(session, write(tmp_path, rows, encoding))
    assert err.value.code == "encoding"
    assert err.value.params == {"line": 2}  # the header is ASCII; the first row is not
    assert "line 2" in str(err.value)
    assert count(session) == 0


def test_big5_and_shift_jis_decode_as_gb18030_but_read_as_garbage():
    for rows, encoding in ((BIG5_ROWS, "big5"), (SJIS_ROWS, "shift_jis")):
        decoded = "\n".join(rows).encode(encoding).decode("gb18030")  # no error raised
        assert all(implausible_line(line) for line in decoded.splitlines())


def test_latin1_that_decodes_as_gb18030_is_still_refused():
    line = "Pâtisserie Hélène Lefèvre"
    decoded = line.encode("latin-1").decode("gb18030")
    assert implausible_line(decoded)


def test_the_line_is_where_the_garbage_starts():
    raw = ("\n".join([HEADER, *GBK_ROWS[:2]]).encode("gbk") + b"\n"
           + BIG5_ROWS[1].encode("big5"))
    with pytest.raises(TableRefused, match="line 4"):
        decode_text(raw)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_gbk_from_excel_and_utf8_keep_working(session, tmp_path, encoding):
    summary = import_enterprises(session, write(tmp_path, GBK_ROWS, encoding))
    assert summary.inserted == 4
    assert session.execute(text(
        "SELECT name FROM enterprise WHERE management_code = 'HJ002'")).scalar() \
        == "河间市瀛州镇喆堃汽配有限公司"


def test_api_says_the_encoding_error_in_chinese_naming_the_line(client, tmp_path, session):
    import io

    from tests.test_jobs import admin_headers

    data = ("\r\n".join([HEADER, *BIG5_ROWS]) + "\r\n").encode("big5")
    response = client.post("/api/v1/imports/enterprises", headers=admin_headers(session),
                           data={"file": (io.BytesIO(data), "e.csv")})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert "第 2 行" in message
    assert count(session) == 0
