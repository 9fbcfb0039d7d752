import json

from jpegdl.cli import main


def test_sensitivity_tables_from_a_run(trained_run, tmp_path, capsys):
    path = str(tmp_path / "s.json")
    main(["tables", "--sensitivity", str(trained_run), "--images", "64", "--scale", "3", "-o", path])
    capsys.readouterr()
    tables = json.loads((tmp_path / "s.json").read_text())
    values = [v for row in tables["luma"] for v in row]
    assert min(values) == 3 and max(values) <= 255
    main(["tables", "--sensitivity", str(trained_run), "--images", "64", "--lambda", "0.01", "--format", "cjpeg"])
    assert len(capsys.readouterr().out.split()) == 128 + 4
    assert main(["tables", "-q", "50"]) == 0  # the plain IJG tables are unchanged
    assert json.loads(capsys.readouterr().out)["luma"][0][0] == 16
