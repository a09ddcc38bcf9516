"""Loaders for tables, networks and temporal networks, with clear errors; synthetic generators."""

from explorer.data.types import DataError, NetworkData, TableData, TemporalNetworkData

__all__ = ["DataError", "NetworkData", "TableData", "TemporalNetworkData"]
