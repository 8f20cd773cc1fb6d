//! DNS messages and sockets: the nameserver check, NOTIFY.
