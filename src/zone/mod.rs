//! Zone publication.
