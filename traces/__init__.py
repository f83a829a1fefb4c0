"""Link traces: readers, writers, generators and the traces the project ships.

Shipped files (regenerate with ``python -m traces ship``): constant traces at the
seeds' rates and Markov-modulated LTE-like / WiFi-like variable traces.
"""
from traces.readers import (read_delay_csv, read_delivery_trace, read_mahimahi_trace,
                            read_rate_csv)
from traces.trace_types import OPPORTUNITY_BYTES, DelayTrace, DeliveryTrace, TraceFormatError

__all__ = ["OPPORTUNITY_BYTES", "DelayTrace", "DeliveryTrace", "TraceFormatError", "read_delay_csv",
           "read_delivery_trace", "read_mahimahi_trace", "read_rate_csv"]
