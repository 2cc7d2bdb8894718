"""The risk stops as pure rules, each on numbers checked by hand: the drawdown stop (trigger, hold, lift,
reset peak), the stop-loss from entry and from the high since entry, the cooldown in market days, the
never-trade list, and all of them on a day's targets as the live cycle calls them."""

import numpy as np
import pandas as pd
import pytest

from quant_assets.core.limits import DrawdownStop, RiskLimits, StopLoss
from quant_assets.core.stops import (
    COOLDOWN,
    DRAWDOWN_RELEASE,
    DRAWDOWN_STOP,
    NEVER_TRADE,
    STOP_LOSS,
    Barred,
    Holding,
    StopEvent,
    advance_drawdown,
    apply_limits,
    barred_symbols,
    drawdown_state,
    drawdown_states,
    last_stop_outs,
    market_days_between,
    restrict_targets,
    stop_loss_exits,
)

DAYS = pd.bdate_range("2021-01-04", periods=10)


def test_the_drawdown_stop_triggers_holds_lifts_and_resets_its_peak():
    stop = DrawdownStop(max_drawdown=0.15, target_fraction=0.25, recovery_days=3)
    # 110 -> 93.5 is exactly 15 % down: it triggers on day 3. Days 3, 4, 5 decide at 25 %; day 6 lifts
    # at 92, still 16 % below the old peak 110: the peak resets to 92, so it does not trigger again.
    # From the reset peak (93 on day 7), 79.05 is a fresh 15 % fall: a second trigger on day 8.
    equity = pd.Series([100, 110, 99, 93.5, 90, 91, 92, 93, 79.05, 80], index=DAYS, dtype=float)
    states = drawdown_states(equity, stop)
    assert [s.active for s in states] == [False, False, False, True, True, True, False, False, True, True]
    assert [s.scale for s in states] == [1, 1, 1, 0.25, 0.25, 0.25, 1, 1, 0.25, 0.25]
    assert [s.peak for s in states] == [100, 110, 110, 110, 110, 110, 92, 93, 93, 93]
    assert [s.days_left for s in states] == [0, 0, 0, 3, 2, 1, 0, 0, 3, 2]
    assert states[2].drawdown == pytest.approx(0.1)
    assert states[4].drawdown == pytest.approx(1 - 90 / 110) and states[4].since == DAYS[3]
    events = [(s.date, s.event.rule) for s in states if s.event is not None]
    assert events == [(DAYS[3], DRAWDOWN_STOP), (DAYS[6], DRAWDOWN_RELEASE), (DAYS[8], DRAWDOWN_STOP)]
    assert "93.5" in states[3].event.reason and "15.0% below its peak 110.00" in states[3].event.reason
    assert "peak reset to equity 92.00" in states[6].event.reason
    assert drawdown_state(equity.iloc[:6], stop) == states[5]


def test_a_stop_with_one_recovery_day_scales_only_the_trigger_decision():
    stop = DrawdownStop(max_drawdown=0.1, target_fraction=0.0, recovery_days=1)
    states = drawdown_states(pd.Series([100, 89, 88, 87], index=DAYS[:4], dtype=float), stop)
    assert [s.scale for s in states] == [1, 0, 1, 1]


def test_bad_equity_is_refused_with_the_day():
    stop = DrawdownStop()
    with pytest.raises(ValueError, match="2021-01-05: equity must be a positive number"):
        drawdown_states(pd.Series([100.0, 0.0], index=DAYS[:2]), stop)
    with pytest.raises(ValueError, match="one value per market day, in order"):
        drawdown_states(pd.Series([100.0, 99.0], index=DAYS[:2][::-1]), stop)
    with pytest.raises(ValueError, match="does not follow"):
        advance_drawdown(advance_drawdown(None, DAYS[1], 100, stop), DAYS[1], 99, stop)


def closes_by_hand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "A": [101, 100, 95, 90, 88, 85],  # entry 100: 85 is exactly 15 % down on day 5
            "B": [52, 60, 70, 80, 65, 58],  # far above its entry 50, but 27.5 % below its high 80
            "C": [60, 55, 40, 38, 37, 36],  # entered day 2 at 40: 10 % down; the 60 was before entry
            "D": [30, 30, 30, 30, 30, np.nan],  # no close today: not judged (and no error)
        },
        index=DAYS[:6],
        dtype=float,
    )


HOLDINGS = {
    "A": Holding(DAYS[0], 100.0),
    "B": Holding(DAYS[0], 50.0),
    "C": Holding(DAYS[2], 40.0),
    "D": Holding(DAYS[0], 30.0),
}


def test_stop_loss_from_the_entry_and_from_the_high_since_entry():
    stop = StopLoss(from_entry=0.15, from_high=0.25, cooldown_days=3)
    closes = closes_by_hand()
    assert stop_loss_exits(DAYS[4], HOLDINGS, closes, stop) == []  # A 12 %, B 18.75 % from 80: not yet
    exits = stop_loss_exits(DAYS[5], HOLDINGS, closes, stop)
    assert [(e.date, e.symbol, e.rule) for e in exits] == [
        (DAYS[5], "A", STOP_LOSS),
        (DAYS[5], "B", STOP_LOSS),
    ]
    assert exits[0].reason == (
        "A: close 85.00 is 15.0% below its entry 100.00 on 2021-01-04 (limit 15.0%); "
        "sold at the next open, not bought for 3 market days"
    )
    assert (
        "B: close 58.00 is 27.5% below its highest close 80.00 since entry (limit 25.0%)" in exits[1].reason
    )
    assert "below its entry" not in exits[1].reason  # B is up from its entry: one reason only


def test_stop_loss_refuses_what_it_cannot_judge():
    stop = StopLoss()
    closes = closes_by_hand()
    with pytest.raises(ValueError, match="Z is held but has no closes"):
        stop_loss_exits(DAYS[5], {"Z": Holding(DAYS[0], 1.0)}, closes, stop)
    with pytest.raises(ValueError, match="not a market day"):
        stop_loss_exits(DAYS[7], HOLDINGS, closes, stop)
    with pytest.raises(ValueError, match="A has entry price 0"):
        stop_loss_exits(DAYS[5], {"A": Holding(DAYS[0], 0.0)}, closes, stop)


def test_the_cooldown_counts_market_days_not_calendar_days():
    # Good Friday 2021-04-02 is no market day: 03-31 (stop), 04-01, 04-05 are its three barred decisions.
    market = pd.bdate_range("2021-03-29", periods=8).drop(pd.Timestamp("2021-04-02"))
    limits = RiskLimits(stop_loss=StopLoss(cooldown_days=3), never_trade=frozenset({"X"}))
    stopped = {"S": pd.Timestamp("2021-03-31")}
    barred = {day.date().isoformat(): sorted(barred_symbols(day, stopped, market, limits)) for day in market}
    assert barred == {
        "2021-03-29": ["X"],  # before the stop
        "2021-03-30": ["X"],
        "2021-03-31": ["S", "X"],
        "2021-04-01": ["S", "X"],
        "2021-04-05": ["S", "X"],  # four weekdays on, but the third market day
        "2021-04-06": ["X"],
        "2021-04-07": ["X"],
    }
    assert market_days_between(market, pd.Timestamp("2021-03-31"), pd.Timestamp("2021-04-05")) == 2
    why = barred_symbols(pd.Timestamp("2021-04-05"), stopped, market, limits)
    assert why["S"] == Barred(COOLDOWN, "S was stopped out on 2021-03-31: market day 3 of its 3-day cooldown")
    assert why["X"].rule == NEVER_TRADE


def test_stopped_and_barred_weight_goes_to_cash_and_the_rest_is_scaled():
    day = DAYS[5]
    targets = pd.Series({"A": 0.3, "B": 0.3, "C": 0.2, "E": 0.1})
    exit_a = StopEvent(day, "A", STOP_LOSS, "A: down")
    barred = {"C": Barred(COOLDOWN, "C cooling"), "X": Barred(NEVER_TRADE, "X never"),
              "Y": Barred(NEVER_TRADE, "Y never")}  # fmt: skip
    weights, events = restrict_targets(targets, day, scale=0.5, exits=[exit_a], barred=barred, held=["X"])
    # Not redistributed: B and E keep their share of the portfolio, halved; the rest (85 %) is cash.
    assert weights.to_dict() == {"A": 0.0, "B": 0.15, "C": 0.0, "E": 0.05, "X": 0.0}
    assert weights.sum() == pytest.approx(0.2)
    assert [(e.symbol, e.rule) for e in events] == [("A", STOP_LOSS), ("C", COOLDOWN), ("X", NEVER_TRADE)]
    assert events[1].reason == "C cooling; target 20.00% dropped"
    assert events[2].reason == "X never; held: sold"  # held, not targeted: listed at 0 so it is sold
    with pytest.raises(ValueError, match="2021-01-11: targets must be finite weights"):
        restrict_targets(pd.Series({"A": 0.7, "B": 0.7}), day)
    with pytest.raises(ValueError, match="scale must be in"):
        restrict_targets(targets, day, scale=1.5)


def test_apply_limits_puts_every_rule_on_the_days_targets():
    closes = closes_by_hand()
    equity = pd.Series([100, 104, 100, 95, 92, 88], index=DAYS[:6], dtype=float)  # 15.4 % below 104 today
    limits = RiskLimits(
        drawdown_stop=DrawdownStop(max_drawdown=0.15, target_fraction=0.5, recovery_days=5),
        stop_loss=StopLoss(from_entry=0.15, from_high=0.25, cooldown_days=5),
        never_trade=frozenset({"X"}),
    )
    holdings = {"A": HOLDINGS["A"], "C": HOLDINGS["C"]}
    targets = pd.Series({"A": 0.2, "B": 0.3, "C": 0.2, "D": 0.1, "X": 0.1})
    out = apply_limits(targets, DAYS[5], limits, equity=equity, closes=closes, holdings=holdings,
                       stopped_out={"D": DAYS[2]})  # fmt: skip
    assert out.drawdown.active and out.drawdown.scale == 0.5 and out.drawdown.since == DAYS[5]
    assert out.weights.to_dict() == {"A": 0.0, "B": 0.15, "C": 0.1, "D": 0.0, "X": 0.0}
    assert [(e.symbol, e.rule) for e in out.events] == [
        (None, DRAWDOWN_STOP),
        ("A", STOP_LOSS),
        ("D", COOLDOWN),
        ("X", NEVER_TRADE),
    ]
    assert [e.symbol for e in out.exits] == ["A"]
    assert set(out.barred) == {"A", "D", "X"}
    # The next day, A (recorded as stopped) cools down and is not judged by the stop-loss again.
    closes.loc[DAYS[6]] = [80.0, 58.0, 36.0, 20.0]
    equity.loc[DAYS[6]] = 87.0
    nxt = apply_limits(targets, DAYS[6], limits, equity=equity, closes=closes, holdings=holdings,
                       stopped_out={"D": DAYS[2], **last_stop_outs(out.events)})  # fmt: skip
    assert [(e.symbol, e.rule) for e in nxt.events] == [("A", COOLDOWN), ("D", COOLDOWN), ("X", NEVER_TRADE)]
    assert nxt.drawdown.days_active == 1 and nxt.drawdown.event is None
    with pytest.raises(ValueError, match="no value for 2021-01-13"):
        apply_limits(targets, DAYS[7], limits, equity=equity, closes=closes, holdings={})


def test_events_serialise_for_reports():
    event = StopEvent(DAYS[0], None, DRAWDOWN_STOP, "why")
    assert event.to_dict() == {"date": "2021-01-04", "symbol": None, "rule": DRAWDOWN_STOP, "reason": "why"}
    later = StopEvent(DAYS[3], "A", STOP_LOSS, "again")
    assert last_stop_outs([later, StopEvent(DAYS[1], "A", STOP_LOSS, "x"), event]) == {"A": DAYS[3]}
