//! AMI message → engine events.
