//! The batchyard recipe language.
