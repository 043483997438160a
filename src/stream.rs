//! Streaming plumbing that lets large transfers use both cores with bounded
//! memory: a write-behind thread (the consumer of a byte stream runs beside
//! its producer) and a hashing thread (SHA-256 of a stream beside whoever
//! reads it). Each holds at most a few [`BLOCK`]-sized buffers, which are
//! wiped when dropped: they may hold testimony or exhibits in the clear.
//!
//! This module owns threads and buffers only; it knows nothing of vaults,
//! records or formats.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Bytes per buffer handed between threads.
pub const BLOCK: usize = 1024 * 1024;
/// Buffers in flight between two threads.
const DEPTH: usize = 2;

type Buf = Zeroizing<Vec<u8>>;

fn pool(n: usize) -> (SyncSender<Buf>, Receiver<Buf>) {
    let (tx, rx) = sync_channel(n);
    for _ in 0..n {
        let _ = tx.send(Zeroizing::new(Vec::with_capacity(BLOCK)));
    }
    (tx, rx)
}

/// A `Write` whose bytes another thread writes to the real sink.
struct ChannelWriter {
    full: Option<SyncSender<Buf>>,
    empty: Receiver<Buf>,
    current: Buf,
}

impl ChannelWriter {
    fn send_current(&mut self) -> io::Result<()> {
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "the writer thread stopped");
        let mut next = self.empty.recv().map_err(|_| closed())?;
        next.clear();
        let full = std::mem::replace(&mut self.current, next);
        self.full
            .as_ref()
            .ok_or_else(closed)?
            .send(full)
            .map_err(|_| closed())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.current.len();
        let n = room.min(data.len());
        self.current.extend_from_slice(&data[..n]);
        if self.current.len() == BLOCK {
            self.send_current()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `produce` with a writer whose bytes a second thread writes to
/// `sink`, then hands `sink` to `finish` on that thread (e.g. to finish an
/// age stream and fsync). Errors of either side are returned; a failed sink
/// makes the producer's next write fail.
pub(crate) fn write_behind<W, R, T, E>(
    sink: W,
    produce: impl FnOnce(&mut dyn Write) -> Result<T, E>,
    finish: impl FnOnce(W) -> io::Result<R> + Send,
) -> Result<(T, R), E>
where
    W: Write + Send,
    R: Send,
    E: From<io::Error>,
{
    let (full_tx, full_rx) = sync_channel::<Buf>(DEPTH);
    let (empty_tx, empty_rx) = pool(DEPTH + 1);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> io::Result<R> {
            let mut sink = sink;
            for buf in full_rx {
                sink.write_all(&buf)?;
                let _ = empty_tx.send(buf);
            }
            finish(sink)
        });
        let mut writer = ChannelWriter {
            full: Some(full_tx),
            empty: empty_rx,
            current: Zeroizing::new(Vec::with_capacity(BLOCK)),
        };
        let produced = produce(&mut writer).and_then(|value| {
            if !writer.current.is_empty() {
                writer.send_current()?;
            }
            Ok(value)
        });
        // Closing the channel lets the worker finish (or notice we stopped).
        writer.full = None;
        drop(writer);
        let finished = worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        // A sink error explains a producer's broken pipe: report it first.
        let finished = finished.map_err(E::from)?;
        Ok((produced?, finished))
    })
}

/// SHA-256 computed on another thread from copies of the blocks given to
/// [`ParallelHasher::update`].
pub struct ParallelHasher<'scope> {
    full: Option<SyncSender<Buf>>,
    empty: Receiver<Buf>,
    worker: Option<ScopedJoinHandle<'scope, [u8; 32]>>,
}

impl<'scope> ParallelHasher<'scope> {
    /// Starts the hashing thread in `scope`.
    pub fn start<'env>(scope: &'scope Scope<'scope, 'env>) -> ParallelHasher<'scope> {
        let (full_tx, full_rx) = sync_channel::<Buf>(DEPTH);
        let (empty_tx, empty_rx) = pool(DEPTH + 1);
        let worker = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for buf in full_rx {
                hasher.update(&buf[..]);
                let _ = empty_tx.send(buf);
            }
            hasher.finalize().into()
        });
        ParallelHasher {
            full: Some(full_tx),
            empty: empty_rx,
            worker: Some(worker),
        }
    }

    /// Hashes a copy of `data` (in the background).
    pub fn update(&mut self, data: &[u8]) -> io::Result<()> {
        let stopped = || io::Error::other("the hashing thread stopped");
        for piece in data.chunks(BLOCK) {
            let mut buf = self.empty.recv().map_err(|_| stopped())?;
            buf.clear();
            buf.extend_from_slice(piece);
            self.full
                .as_ref()
                .ok_or_else(stopped)?
                .send(buf)
                .map_err(|_| stopped())?;
        }
        Ok(())
    }

    /// Waits for the digest of everything given so far.
    pub fn finish(&mut self) -> io::Result<[u8; 32]> {
        self.full = None;
        self.worker
            .take()
            .ok_or_else(|| io::Error::other("the hash was already finished"))?
            .join()
            .map_err(|_| io::Error::other("the hashing thread panicked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_behind_delivers_every_byte_in_order() {
        // More blocks than buffers in flight, so recycled buffers are reused.
        let data: Vec<u8> = (0..(4 * (DEPTH + 1) * BLOCK + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let (written, out) = write_behind(
            Vec::new(),
            |w| -> io::Result<usize> {
                for piece in data.chunks(7777) {
                    w.write_all(piece)?;
                }
                Ok(data.len())
            },
            Ok,
        )
        .unwrap();
        assert_eq!(written, data.len());
        assert_eq!(out, data);
    }

    #[test]
    fn a_failing_sink_fails_the_producer_with_the_sinks_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let result = write_behind(
            Full,
            |w| -> io::Result<()> {
                for _ in 0..10 {
                    w.write_all(&[0u8; BLOCK])?;
                }
                Ok(())
            },
            |_| Ok(()),
        );
        assert_eq!(result.unwrap_err().to_string(), "disk full");
    }

    #[test]
    fn parallel_hash_matches_sha256() {
        let data: Vec<u8> = (0..(2 * BLOCK + 99)).map(|i| (i % 13) as u8).collect();
        let digest = std::thread::scope(|scope| {
            let mut h = ParallelHasher::start(scope);
            for piece in data.chunks(300_000) {
                h.update(piece).unwrap();
            }
            h.finish().unwrap()
        });
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&data)));
    }
}
