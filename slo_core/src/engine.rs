//! Reference computation of SLO performance (being written).
