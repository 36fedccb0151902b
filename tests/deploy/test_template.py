"""The SAM template: valid for cfn-lint, and wired the way the archive needs not to lose records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

from changelake import lambda_handler
from changelake.metrics import NAMESPACE, OLDEST_UNREAD_METRIC
from deploy.package import ARCHITECTURES

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template, parsed with cfn-lint's loader (it knows !Sub, !GetAtt and the rest)."""
    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE_PATH))
    return loaded


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def allow_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Allow statement of every role's inline policies."""
    return [
        statement
        for role in resources_of_type(template, "AWS::IAM::Role").values()
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]


def resource_text(resource: Any) -> str:
    """A statement resource as text: a plain ARN, a !Sub string, or a !GetAtt."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    if "Fn::GetAtt" in resource:
        return ".".join(resource["Fn::GetAtt"])
    raise AssertionError(f"unexpected resource form {resource!r}")


def test_cfn_lint_finds_nothing() -> None:
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


def test_cfn_lint_would_report_an_unbounded_setting(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    text = TEMPLATE_PATH.read_text().replace(
        "MaximumRetryAttempts: 5", "MaximumRetryAttempts: 20000"
    )
    broken.write_text(text)
    assert any("20000" in str(match) for match in lint_file(broken))


def test_event_source_mapping_bisects_reports_items_and_bounds_retries(
    template: dict[str, Any],
) -> None:
    mapping = template["Resources"]["ArchiveEventSourceMapping"]["Properties"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    # A record must reach the failure destination before the stream (24 h) drops it.
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] < 86_400
    assert mapping["EventSourceArn"] == {"Ref": "StreamArn"}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"


def test_failed_batches_go_to_an_s3_bucket_that_keeps_the_records(
    template: dict[str, Any],
) -> None:
    mapping = template["Resources"]["ArchiveEventSourceMapping"]["Properties"]
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    bucket_id, attribute = destination["Fn::GetAtt"]
    assert attribute == "Arn"
    assert template["Resources"][bucket_id]["Type"] == "AWS::S3::Bucket"
    granted = {
        (action, resource_text(resource))
        for statement in allow_statements(template)
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    # What Lambda needs to write to an S3 on-failure destination.
    assert ("s3:PutObject", f"${{{bucket_id}.Arn}}/*") in granted
    assert ("s3:ListBucket", f"{bucket_id}.Arn") in granted


def test_handlers_and_environment_match_the_code(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    handlers = {r["Properties"]["Handler"] for r in functions.values()}
    assert handlers == {"changelake.lambda_handler.archive", "changelake.lambda_handler.poll"}
    for handler in handlers:
        assert callable(getattr(lambda_handler, handler.rsplit(".", 1)[1]))
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CHANGELAKE_ARCHIVE"] == {"Fn::Sub": "s3://${ArchiveBucket}/${ArchivePrefix}"}
    poller = functions["PollerFunction"]["Properties"]
    assert poller["Events"]["Schedule"]["Type"] == "Schedule"
    # The poller follows the table's current stream (a re-enabled stream is a reported gap).
    assert poller["Environment"]["Variables"]["CHANGELAKE_TABLE"] == {
        "Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "StreamArn"}]}]
    }


def test_code_uri_runtime_and_architecture_agree_with_make_package(
    template: dict[str, Any],
) -> None:
    function = template["Globals"]["Function"]
    (architecture,) = function["Architectures"]
    assert architecture in ARCHITECTURES
    version = function["Runtime"].removeprefix("python")
    assert (
        function["CodeUri"] == f"../build/lambda/changelake-archive-{architecture}-py{version}.zip"
    )
    makefile = (TEMPLATE_PATH.parent.parent / "Makefile").read_text()
    assert re.search(rf"^LAMBDA_PYTHON \?= {re.escape(version)}$", makefile, re.MULTILINE)


def test_mode_chooses_trigger_or_poller_resources(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert template["Parameters"]["Mode"]["AllowedValues"] == ["trigger", "poller", "follow"]
    for name in ("ArchiveFunction", "ArchiveEventSourceMapping", "FailedBatchesBucket"):
        assert resources[name]["Condition"] == "IsTriggerMode"
    assert resources["PollerFunction"]["Condition"] == "IsPollerMode"
    assert "Condition" not in resources["ArchiveBucket"]


def test_iam_is_scoped_to_the_table_stream_and_the_archive_prefix(
    template: dict[str, Any],
) -> None:
    statements = allow_statements(template)
    assert statements
    for statement in statements:
        resources = [resource_text(r) for r in _as_list(statement["Resource"])]
        assert "*" not in resources, statement["Sid"]
        for action in _as_list(statement["Action"]):
            service = action.split(":")[0]
            assert "*" not in action, statement["Sid"]
            if service == "dynamodb":
                table = (
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}"
                )
                expected = table if action == "dynamodb:DescribeTable" else f"{table}/stream/*"
                assert resources == [expected], statement["Sid"]
            if service == "s3" and any("ArchiveBucket" in r for r in resources):
                if action == "s3:ListBucket":
                    assert statement["Condition"]["StringLike"]["s3:prefix"] == {
                        "Fn::Sub": "${ArchivePrefix}/*"
                    }
                else:
                    # Which areas exactly: tests/deploy/test_least_privilege.py.
                    assert all(
                        r.startswith("${ArchiveBucket.Arn}/${ArchivePrefix}/") for r in resources
                    )


def test_buckets_are_versioned_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    assert set(buckets) == {"ArchiveBucket", "FailedBatchesBucket"}
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of_type(template, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"]["Status"] == "Enabled"
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert bucket["DeletionPolicy"] == "Retain"
        (deny,) = policies[name]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_old_partitions_move_to_storage_that_rebuilds_can_still_read(
    template: dict[str, Any],
) -> None:
    rules = template["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (archive_rule,) = [rule for rule in rules if "Transitions" in rule]
    assert archive_rule["Prefix"] == {"Fn::Sub": "${ArchivePrefix}/table="}
    first, optional = archive_rule["Transitions"]
    assert first["StorageClass"] == "STANDARD_IA"
    condition, glacier, absent = optional["Fn::If"]
    assert template["Conditions"][condition]
    assert absent == {"Ref": "AWS::NoValue"}
    # Flexible Retrieval and Deep Archive need a restore before DuckDB could read an object.
    assert glacier["StorageClass"] == "GLACIER_IR"
    assert template["Parameters"]["TransitionToGlacierInstantRetrievalDays"]["Default"] == 0


def test_alarms_watch_iterator_age_and_the_handlers_quarantine_metric(
    template: dict[str, Any],
) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    by_metric = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()
    }
    assert ("AWS/Lambda", "IteratorAge") in by_metric
    # In poller mode, the poller's own bound on the oldest unread record (changelake.metrics).
    assert (NAMESPACE, OLDEST_UNREAD_METRIC) in by_metric
    assert ("AWS/Lambda", "DestinationDeliveryFailures") in by_metric
    # The quarantine alarms read the metric the handlers write (changelake.metrics).
    assert (NAMESPACE, "QuarantinedRecords") in by_metric
    quarantine = [
        a for a in alarms.values() if a["Properties"]["MetricName"] == "QuarantinedRecords"
    ]
    assert {a["Properties"]["Dimensions"][0]["Name"] for a in quarantine} == {"FunctionName"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
