from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from onebin.errors import DatabaseDamaged, DatabaseUnavailable, QueryTimeout, StorageFull
from onebin.store.pg_faults import classify, fault_for, reason, translate


@pytest.mark.parametrize(
    ("sqlstate", "fault"),
    [
        (None, DatabaseUnavailable),  # libpq: refused, reset, closed
        ("08006", DatabaseUnavailable),  # connection_failure
        ("08001", DatabaseUnavailable),  # cannot connect
        ("57P01", DatabaseUnavailable),  # admin_shutdown: pg_ctl stop
        ("57P02", DatabaseUnavailable),  # crash_shutdown
        ("57P03", DatabaseUnavailable),  # cannot_connect_now: still starting
        ("53300", DatabaseUnavailable),  # too_many_connections
        ("53200", DatabaseUnavailable),  # out_of_memory
        ("58030", DatabaseUnavailable),  # io_error
        ("57014", QueryTimeout),  # query_canceled: statement_timeout
        ("53100", StorageFull),  # disk_full
        ("XX001", DatabaseDamaged),  # data_corrupted
        ("XX002", DatabaseDamaged),  # index_corrupted
    ],
)
def test_fault_for_maps_server_conditions_onto_onebins_faults(sqlstate, fault):
    assert type(fault_for(sqlstate, "detail", query_timeout=2)) is fault


@pytest.mark.parametrize(
    "sqlstate",
    ["23505", "23503", "42P01", "42601", "22P02", "40P01", "40001", "P0001"],
)
def test_constraints_sql_mistakes_and_conflicts_are_no_faults(sqlstate):
    assert fault_for(sqlstate, "detail", query_timeout=2) is None


def test_a_read_only_refusal_is_a_fault_only_for_a_write():
    assert isinstance(fault_for("25006", "d", query_timeout=2), DatabaseUnavailable)
    assert fault_for("25006", "d", query_timeout=2, writing=False) is None


def test_query_timeout_names_the_deadline():
    assert str(fault_for("57014", "x", query_timeout=0.5)) == (
        "the query took longer than 0.5s and was stopped"
    )


def test_classify_reads_the_sqlstate_of_psycopgs_error_classes():
    assert isinstance(classify(errors.QueryCanceled("c"), query_timeout=2), QueryTimeout)
    assert isinstance(classify(errors.DiskFull("d"), query_timeout=2), StorageFull)
    assert isinstance(classify(errors.AdminShutdown("t"), query_timeout=2), DatabaseUnavailable)
    assert classify(errors.UniqueViolation("u"), query_timeout=2) is None


def test_only_an_operational_error_without_sqlstate_is_unavailability():
    refused = psycopg.OperationalError("connection is bad: Connection refused")
    assert isinstance(classify(refused, query_timeout=2), DatabaseUnavailable)
    assert classify(psycopg.ProgrammingError("wrong number of parameters"), query_timeout=2) is None
    assert classify(psycopg.InterfaceError("misuse"), query_timeout=2) is None
    assert classify(ValueError("not a database error"), query_timeout=2) is None


def test_reason_keeps_libpqs_words_without_the_servers_address():
    error = psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?"
    )
    assert reason(error) == "Connection refused"
    assert reason(psycopg.OperationalError("server closed the connection unexpectedly")) == (
        "server closed the connection unexpectedly"
    )


def test_translate_keeps_the_driver_error_as_the_cause_and_passes_others_unchanged():
    error = errors.QueryCanceled("canceling statement due to statement timeout")
    fault = translate(error, query_timeout=2)
    assert isinstance(fault, QueryTimeout)
    assert fault.__cause__ is error
    other = errors.UniqueViolation("duplicate key")
    assert translate(other, query_timeout=2) is other
