"""802.11n/ac airtime: how long one transmission opportunity (TXOP) holds the medium.

One TXOP sends one A-MPDU (aggregate of MPDUs to one receiver) and gets one BlockAck::

    DIFS + backoff + preamble + A-MPDU at the PHY rate + SIFS + BlockAck

Constants (IEEE Std 802.11-2016):

* slot 9 us, SIFS 16 us (OFDM / HT PHY at 5 GHz: Table 19-25 "HT PHY characteristics");
  DIFS = SIFS + 2 slots = 34 us (§10.3.2.3.7); CWmin 15 slots (aCWmin, Table 19-25). The
  backoff is the MEAN of the uniform draw over [0, CWmin]: CWmin / 2 = 7.5 slots = 67.5 us.
* HT-mixed preamble, one spatial stream: L-STF 8 + L-LTF 8 + L-SIG 4 + HT-SIG 8 + HT-STF 4 +
  HT-LTF 4 = 36 us (§19.3.9, Table 19-6 timing parameters); each extra stream adds an HT-LTF.
* Data symbols: 4 us, 3.6 us with the short guard interval; SERVICE 16 bits + tail 6 bits
  (§19.3.11); the payload is padded to whole symbols.
* A-MPDU subframe (§9.7): 4-byte MPDU delimiter + MPDU padded to a multiple of 4 bytes.
  MPDU = QoS Data MAC header 26 bytes + LLC/SNAP 8 bytes + IP packet + FCS 4 bytes (§9.3.2.1).
  HT caps an A-MPDU at 65,535 bytes (Maximum A-MPDU Length Exponent 3, §9.4.2.56.3), a PPDU at
  aPPDUMaxTime 5.484 ms (Table 19-25), a BlockAck window at 64 MPDUs (§10.24.7).
* Compressed BlockAck: 32 bytes (§9.3.1.9) at a basic rate of 24 Mbit/s legacy OFDM
  (96 data bits per 4 us symbol): 20 us preamble + ceil((16 + 256 + 6) / 96) = 3 symbols = 32 us.
"""
from __future__ import annotations

import math

SLOT_US = 9.0
SIFS_US = 16.0
DIFS_US = SIFS_US + 2 * SLOT_US           # 34 us
CW_MIN_SLOTS = 15
MEAN_BACKOFF_US = CW_MIN_SLOTS / 2 * SLOT_US   # 67.5 us
HT_PREAMBLE_1SS_US = 36.0
HT_LTF_US = 4.0
SERVICE_TAIL_BITS = 16 + 6
MAC_OVERHEAD_BYTES = 26 + 8 + 4          # QoS Data header + LLC/SNAP + FCS
DELIMITER_BYTES = 4
LEGACY_PREAMBLE_US = 20.0
LEGACY_SYMBOL_US = 4.0
BASIC_RATE_BITS_PER_SYMBOL = 96          # 24 Mbit/s legacy OFDM
BLOCK_ACK_BYTES = 32
HT_MAX_AMPDU_BYTES = 65_535
PPDU_MAX_US = 5484.0
BLOCK_ACK_WINDOW = 64


def subframe_bytes(ip_bytes: int) -> int:
    """Bytes one IP packet takes inside an A-MPDU: delimiter + MPDU padded to 4 bytes."""
    mpdu = ip_bytes + MAC_OVERHEAD_BYTES
    return DELIMITER_BYTES + (mpdu + 3) // 4 * 4


def legacy_frame_us(frame_bytes: int) -> float:
    """A control frame at the basic rate (24 Mbit/s OFDM)."""
    symbols = math.ceil((16 + 8 * frame_bytes + 6) / BASIC_RATE_BITS_PER_SYMBOL)
    return LEGACY_PREAMBLE_US + symbols * LEGACY_SYMBOL_US


BLOCK_ACK_US = legacy_frame_us(BLOCK_ACK_BYTES)   # 32 us


def ppdu_us(ampdu_bytes: int, phy_rate_bps: float, symbol_us: float = 3.6, streams: int = 1) -> float:
    """The data PPDU: HT-mixed preamble + the A-MPDU padded to whole symbols at ``phy_rate_bps``."""
    bits_per_symbol = phy_rate_bps * symbol_us * 1e-6
    symbols = math.ceil((SERVICE_TAIL_BITS + 8 * ampdu_bytes) / bits_per_symbol - 1e-9)
    return HT_PREAMBLE_1SS_US + HT_LTF_US * (streams - 1) + symbols * symbol_us


def access_us() -> float:
    """What precedes every PPDU: DIFS + the mean backoff."""
    return DIFS_US + MEAN_BACKOFF_US


def txop_us(ampdu_bytes: int, phy_rate_bps: float, symbol_us: float = 3.6, streams: int = 1) -> float:
    """The whole exchange: access + data PPDU + SIFS + BlockAck."""
    return access_us() + ppdu_us(ampdu_bytes, phy_rate_bps, symbol_us, streams) + SIFS_US + BLOCK_ACK_US


def saturated_tcp_goodput_bps(phy_rate_bps: float, mpdus_per_txop: int, mpdu_error_rate: float,
                              mss_bytes: int = 1448, ip_bytes: int = 1500, ack_ip_bytes: int = 52,
                              segments_per_ack: int = 2, symbol_us: float = 3.6) -> float:
    """Analytic goodput of one saturating TCP flow over the shared medium.

    Data and TCP ACKs take turns (one TXOP each, the medium's round robin between the two
    contenders): a cycle is one data TXOP of ``mpdus_per_txop`` full-size MPDUs plus one ACK
    TXOP carrying the ``mpdus_per_txop / segments_per_ack`` ACKs they cause (with fewer MPDUs
    per TXOP than segments per ACK, one single-ACK TXOP every few data TXOPs). A fraction
    ``mpdu_error_rate`` of the data MPDUs fails and is resent in a later TXOP, so each cycle
    delivers ``(1 - e) * mpdus_per_txop`` new segments.
    """
    data_us = txop_us(mpdus_per_txop * subframe_bytes(ip_bytes), phy_rate_bps, symbol_us)
    acks = mpdus_per_txop / segments_per_ack
    ack_txops = min(1.0, acks)
    ack_us = ack_txops * txop_us(max(1, round(acks)) * subframe_bytes(ack_ip_bytes), phy_rate_bps, symbol_us)
    delivered_bits = (1.0 - mpdu_error_rate) * mpdus_per_txop * mss_bytes * 8
    return delivered_bits / ((data_us + ack_us) * 1e-6)


def saturated_capacity_bps(phy_rate_bps: float, mpdus_per_txop: int, mpdu_error_rate: float,
                           ip_bytes: int = 1500, symbol_us: float = 3.6) -> float:
    """IP bytes per second the medium carries when every TXOP is a full aggregate of data."""
    data_us = txop_us(mpdus_per_txop * subframe_bytes(ip_bytes), phy_rate_bps, symbol_us)
    return (1.0 - mpdu_error_rate) * mpdus_per_txop * ip_bytes * 8 / (data_us * 1e-6)


def bidirectional_tcp_goodput_bps(phy_rate_bps: float, mpdus_per_txop: int, mpdu_error_rate: float,
                                  mss_bytes: int = 1448, ip_bytes: int = 1500, ack_ip_bytes: int = 52,
                                  segments_per_ack: int = 2, symbol_us: float = 3.6) -> float:
    """Analytic goodput of EACH of two saturating TCP flows, one upload and one download.

    The station and the access point take turns; each TXOP aggregates the sender's own data
    with the ACKs it owes the other flow: ``d`` segments and ``d / segments_per_ack`` ACKs,
    ``d (1 + 1 / segments_per_ack) = mpdus_per_txop``. Each flow gets one TXOP of two.
    """
    data = mpdus_per_txop * segments_per_ack / (segments_per_ack + 1)
    acks = mpdus_per_txop - data
    ampdu_bytes = data * subframe_bytes(ip_bytes) + acks * subframe_bytes(ack_ip_bytes)
    cycle_us = 2 * txop_us(int(round(ampdu_bytes)), phy_rate_bps, symbol_us)
    return (1.0 - mpdu_error_rate) * data * mss_bytes * 8 / (cycle_us * 1e-6)
