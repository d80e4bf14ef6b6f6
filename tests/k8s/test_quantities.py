"""Reading and writing Kubernetes quantities."""

from __future__ import annotations

import pytest

from k8s.quantities import (
    QuantityError,
    cpu_cores,
    descriptor_memory_mi,
    format_cpu,
    format_memory,
    gpus,
    memory_mi,
)


def test_cpu_reads_millicores_and_cores() -> None:
    assert (cpu_cores("250m"), cpu_cores("1.5"), cpu_cores(2)) == (0.25, 1.5, 2.0)


def test_memory_reads_binary_decimal_and_bytes() -> None:
    assert (memory_mi("1Gi"), memory_mi("512Mi"), memory_mi("1048576")) == (1024.0, 512.0, 1.0)
    assert memory_mi("1K") == memory_mi("1k") == 1000 / 2**20  # HKube's K is Kubernetes' k


def test_descriptor_numbers_are_mi_already() -> None:
    assert descriptor_memory_mi(300) == 300.0
    assert descriptor_memory_mi("300Mi") == 300.0


def test_a_fractional_gpu_takes_a_whole_device() -> None:
    assert (gpus(0), gpus(0.5), gpus("1"), gpus(2.0)) == (0, 1, 1, 2)


def test_written_forms_are_short_and_never_ask_for_less() -> None:
    assert (format_cpu(0.25), format_cpu(2), format_cpu(0.1234)) == ("250m", "2", "124m")
    assert (format_memory(308), format_memory(0.5)) == ("308Mi", "512Ki")


def test_a_bad_quantity_names_itself() -> None:
    with pytest.raises(QuantityError, match="'lots' is not a Kubernetes quantity"):
        memory_mi("lots")
    with pytest.raises(QuantityError):
        cpu_cores(True)
