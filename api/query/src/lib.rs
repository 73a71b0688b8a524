//! LogQL execution (being written).
