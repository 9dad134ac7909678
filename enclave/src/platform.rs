//! The simulated platform (being written).
