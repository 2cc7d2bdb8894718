"""From the champion's forecasts to portfolio weights."""

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, MetadataValue, asset

from quant_assets.assets.metadata import frame_metadata
from quant_assets.core.confidence import DirectionCalibration, direction_confidence
from quant_assets.core.cross_section import ReturnScale
from quant_assets.core.model import predict_returns
from quant_assets.core.outliers import unconfirmed_moves
from quant_assets.core.policy import PolicyConfig, forecast_rows, target_weights
from quant_assets.core.portfolio import weights_table
from quant_assets.resources.model_registry import ModelRegistry
from quant_assets.resources.platform import PlatformConfig


@asset(group_name="portfolio", automation_condition=AutomationCondition.eager(), kinds={"xgboost", "pandas"})
def predictions(
    context: AssetExecutionContext,
    technical_features: pd.DataFrame,
    validated_bars: pd.DataFrame,
    champion_model: dict,
    registry: ModelRegistry,
) -> pd.DataFrame:
    """Next-horizon expected return and direction confidence per symbol, from its newest features.

    ``unconfirmed`` flags a symbol whose newest close is an extreme move the next bar has yet to confirm
    (``core.outliers.unconfirmed_moves``): its forecast rests on that print, and the trading cycle
    sends it no order until then (``note`` says why).

    ``score`` is the model's own output; ``prediction`` is it as an expected simple return over the
    horizon (the champion's ``return_scale``: the identity for a model that learns the raw return), the
    quantity the confidence was calibrated on and the optimiser reads, whatever label the model learns.
    """
    latest = forecast_rows(technical_features)
    model = registry.load_model(champion_model["version"])
    scores = predict_returns(model, latest[champion_model["feature_names"]])
    predicted = ReturnScale.from_dict(champion_model.get("return_scale")).to_returns(scores)
    calibration = DirectionCalibration(**{k: tuple(v) for k, v in champion_model["calibration"].items()})
    moves = unconfirmed_moves(validated_bars)
    newest = latest.set_index("symbol")["date"]
    moves = moves[moves["date"].to_numpy() == newest.reindex(moves["symbol"]).to_numpy()]
    notes = dict(zip(moves["symbol"], moves["reason"], strict=True))
    frame = pd.DataFrame(
        {
            "symbol": latest["symbol"],
            "as_of": latest["date"],
            "prediction": predicted,
            "score": scores,
            "confidence": direction_confidence(predicted, calibration),
            "stale": latest["stale"],
            "unconfirmed": latest["symbol"].isin(notes).to_numpy(),
            "note": latest["symbol"].map(notes).to_numpy(),
            "model_version": champion_model["version"],
            "horizon_days": champion_model["horizon_days"],
        }
    )
    context.add_output_metadata(
        {
            **frame_metadata(frame.sort_values("prediction", ascending=False), 10),
            "model_version": champion_model["version"],
            "label": champion_model.get("label", "return"),
            "stale": int(frame["stale"].sum()),
            "unconfirmed": MetadataValue.json(notes),
        }
    )
    return frame


@asset(group_name="portfolio", automation_condition=AutomationCondition.eager(), kinds={"pypfopt"})
def portfolio_weights(
    context: AssetExecutionContext,
    predictions: pd.DataFrame,
    validated_bars: pd.DataFrame,
    platform: PlatformConfig,
) -> pd.DataFrame:
    """Long-only weights with a per-name cap: max Sharpe on forecasts, min volatility if none is positive.

    The same policy function the backtest replays (``core.policy.target_weights``)."""
    fresh = predictions[~predictions["stale"]]
    closes = validated_bars.pivot(index="date", columns="symbol", values="close").sort_index()
    result = target_weights(
        fresh.set_index("symbol")["prediction"],
        closes,
        horizon_days=int(predictions["horizon_days"].iloc[0]),
        config=PolicyConfig(max_weight=platform.max_weight),
    )
    excluded = {
        **result.excluded,
        **{s: "stale features" for s in predictions.loc[predictions["stale"], "symbol"]},
    }
    frame = result.weights.rename("weight").rename_axis("symbol").reset_index()
    context.add_output_metadata(
        {
            "dagster/row_count": len(frame),
            "method": result.method,
            "expected_annual_return": result.expected_annual_return,
            "annual_volatility": result.annual_volatility,
            "sharpe_ratio": result.sharpe_ratio,
            "excluded": MetadataValue.json(excluded),
            "top_weights": MetadataValue.md(weights_table(result)),
        }
    )
    return frame
