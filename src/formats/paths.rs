//! Path rules shared by the tar container and BagIt manifests.
//!
//! This module owns [`PathProblem`], the one answer to "why is this relative
//! path not acceptable", and the checks both formats apply to a
//! `/`-separated relative path: not empty, not absolute, no backslash, no
//! forbidden characters, and no empty, `.` or `..` component. Each format
//! adds its own rules on top (tar: length limits, a file's trailing `/`;
//! BagIt: `data/` placement, trailing whitespace) and reports them with the
//! same type.
//!
//! It does not own file *names* (making evidence names safe to unpack is
//! `formats::tar`'s `sanitize_file_name`), nor anything about the file
//! system: it looks at strings only.

use std::fmt;

/// Why a path is not acceptable in an archive or a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// The path is empty.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// The path has a `..` component.
    ParentComponent,
    /// The path has a `.` component (writers require normalised paths).
    CurrentComponent,
    /// The path has an empty component (`a//b`, a trailing `/` given to the
    /// tar writer, or just `data/` in a manifest).
    EmptyComponent,
    /// The path contains a backslash.
    Backslash,
    /// The path contains a NUL character (BagIt, where other control
    /// characters are percent-encoded).
    Nul,
    /// The path contains a control character, NUL included (tar).
    ControlCharacter(char),
    /// Tar: a regular-file entry's name ends with `/`.
    FileWithTrailingSlash,
    /// Tar: the path is longer than allowed.
    TooLong {
        /// Length in bytes.
        len: usize,
        /// Limit in bytes.
        max: usize,
    },
    /// BagIt: a payload path does not start with `data/`.
    NotUnderData,
    /// BagIt: a tag file path lies under `data/` (that is the payload directory).
    UnderData,
    /// BagIt: the path ends with whitespace, which common validators strip.
    TrailingWhitespace,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::Empty => f.write_str("path is empty"),
            PathProblem::Absolute => f.write_str("path is absolute"),
            PathProblem::ParentComponent => f.write_str("path has a \"..\" component"),
            PathProblem::CurrentComponent => f.write_str("path has a \".\" component"),
            PathProblem::EmptyComponent => f.write_str("path has an empty component"),
            PathProblem::Backslash => f.write_str("path contains a backslash"),
            PathProblem::Nul => f.write_str("path contains a NUL character"),
            PathProblem::ControlCharacter(c) => {
                write!(f, "path contains control character U+{:04X}", u32::from(*c))
            }
            PathProblem::FileWithTrailingSlash => f.write_str("regular file name ends with '/'"),
            PathProblem::TooLong { len, max } => {
                write!(f, "path is {len} bytes, more than the {max}-byte limit")
            }
            PathProblem::NotUnderData => f.write_str("payload path must start with \"data/\""),
            PathProblem::UnderData => f.write_str("tag file path must not be under \"data/\""),
            PathProblem::TrailingWhitespace => {
                f.write_str("path ends with whitespace (validators such as bagit.py strip it)")
            }
        }
    }
}

/// Which characters [`check_chars`] refuses besides `\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forbidden {
    /// Only NUL ([`PathProblem::Nul`]); BagIt percent-encodes CR and LF.
    Nul,
    /// Every control character ([`PathProblem::ControlCharacter`]); tar.
    Control,
}

/// Checks, in this order: not empty, not absolute, no backslash, none of
/// the `forbidden` characters.
pub(crate) fn check_chars(path: &str, forbidden: Forbidden) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    if path.contains('\\') {
        return Err(PathProblem::Backslash);
    }
    match forbidden {
        Forbidden::Nul if path.contains('\0') => Err(PathProblem::Nul),
        Forbidden::Control => match path.chars().find(|c| c.is_control()) {
            Some(c) => Err(PathProblem::ControlCharacter(c)),
            None => Ok(()),
        },
        Forbidden::Nul => Ok(()),
    }
}

/// Checks that no `/`-separated component is empty, `.` or `..` (the first
/// offending component decides).
pub(crate) fn check_components(path: &str) -> Result<(), PathProblem> {
    for component in path.split('/') {
        match component {
            "" => return Err(PathProblem::EmptyComponent),
            "." => return Err(PathProblem::CurrentComponent),
            ".." => return Err(PathProblem::ParentComponent),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_apply_in_order() {
        assert_eq!(check_chars("", Forbidden::Nul), Err(PathProblem::Empty));
        assert_eq!(
            check_chars("/a\\b", Forbidden::Nul),
            Err(PathProblem::Absolute)
        );
        assert_eq!(
            check_chars("a\\\0", Forbidden::Nul),
            Err(PathProblem::Backslash)
        );
        assert_eq!(check_chars("a\0", Forbidden::Nul), Err(PathProblem::Nul));
        assert_eq!(check_chars("a\nb", Forbidden::Nul), Ok(()));
        assert_eq!(
            check_chars("a\nb", Forbidden::Control),
            Err(PathProblem::ControlCharacter('\n'))
        );
        assert_eq!(
            check_components("a//./.."),
            Err(PathProblem::EmptyComponent)
        );
        assert_eq!(
            check_components("a/./.."),
            Err(PathProblem::CurrentComponent)
        );
        assert_eq!(
            check_components("a/../."),
            Err(PathProblem::ParentComponent)
        );
        assert_eq!(check_components("a/b"), Ok(()));
    }
}
