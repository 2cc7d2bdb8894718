"""`quant backtest`: the replay from the command line on bar files, as JSON or a table."""

import json

from quant_assets.cli import main
from quant_assets.settings import BUNDLED_DATA_DIR

FILES = [str(BUNDLED_DATA_DIR / f"{s}_data.csv") for s in ("AAPL", "ABT", "ADBE", "AMZN")]
SHORT = ["--start", "2017-09-01", "--retrain-days", "63", "--max-weight", "0.4"]


def test_backtest_json_has_the_documented_document(capsys):
    code = main(["backtest", *FILES, *SHORT, "--json", "--cost-bps", "2", "--slippage-bps", "3"])
    assert code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert set(report["summary"]) >= {"net", "gross", "benchmarks", "topk"}
    assert set(report["summary"]["benchmarks"]) == {"SPY", "equal_weight"}
    for run in (report["summary"]["net"], report["summary"]["topk"], report["summary"]["benchmarks"]["SPY"]):
        assert {"annual_return", "volatility", "sharpe", "max_drawdown"} <= set(run)
    assert {"rank_ic_mean", "rank_ic_tstat", "ic_mean"} <= set(report["ic"])
    assert report["summary"]["span"]["first_decision"] >= "2017-09-01"
    assert report["costs_total"] > 0 and report["turnover_annual"] > 0
    assert {"date", "net", "gross"} <= set(report["equity"][0])
    assert {"date", "symbol", "shares", "price", "cost"} <= set(report["trades"][0])
    assert "backtest: decision 1/" in captured.err  # progress on stderr, stdout stays one document


def test_backtest_accepts_a_folder_and_prints_a_table(tmp_path, capsys):
    folder = tmp_path / "my_bars"  # any folder: the shipped files carry their true dates
    folder.mkdir()
    for name in FILES:
        (folder / name.rsplit("/", 1)[-1]).write_bytes(open(name, "rb").read())
    assert main(["backtest", str(tmp_path), *SHORT, "--end", "2017-12-29"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| metric"))
    assert header.split("|")[2:7] == [" net ", " gross ", " topk ", " equal_weight ", " SPY "]
    assert "| annual_return |" in out and "price return only" in out


def test_backtest_errors_name_the_problem(tmp_path, capsys):
    assert main(["backtest", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert main(["backtest", *FILES, "--start", "2030-01-01", "--max-weight", "0.4"]) == 2
    assert "no decision dates" in capsys.readouterr().err
