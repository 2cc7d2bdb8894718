"""The sensor that evaluates the assets' automation conditions (eager downstream updates).

Dagster would otherwise create ``default_automation_condition_sensor`` stopped, and new bars would sit at
``validated_bars`` until someone found the switch; like the other sensors, this one starts running.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Materialises what the automation conditions ask for: new bars carried down the graph.",
)
