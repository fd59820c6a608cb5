"""SparkResource: config assembled from settings, and a real local session."""

from orchestration.settings import Settings
from resources.spark import SparkResource, build_spark_config


def test_config_follows_master_packages_and_endpoint() -> None:
    local = build_spark_config(
        "local[*]", packages=["org.apache.hadoop:hadoop-aws:3.4.1"], s3_endpoint="http://s3:9000"
    )
    assert local["spark.master"] == "local[*]"
    assert local["spark.jars.packages"] == "org.apache.hadoop:hadoop-aws:3.4.1"
    assert local["spark.hadoop.fs.s3a.endpoint"] == "http://s3:9000"
    assert local["spark.sql.shuffle.partitions"] == "8"
    cluster = build_spark_config("spark://master:7077", conf={"spark.executor.memory": "8g"})
    assert "spark.sql.shuffle.partitions" not in cluster  # local tuning never leaks to a cluster
    assert cluster["spark.executor.memory"] == "8g"


def test_real_local_session(flywheel_env: Settings) -> None:
    spark = SparkResource(master=flywheel_env.spark_master).spark_session
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, "a")], ["id", "label"])
    counts = {r["label"]: r["count"] for r in df.groupBy("label").count().collect()}
    assert counts == {"a": 2, "b": 1}
    assert spark.sparkContext.master.startswith("local")
