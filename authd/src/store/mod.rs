//! The credentials database.
