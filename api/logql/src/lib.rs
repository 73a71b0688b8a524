//! LogQL syntax (placeholder).
