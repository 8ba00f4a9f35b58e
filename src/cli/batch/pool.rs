//! Many inputs through a fixed number of worker threads, with results
//! handed on in input order and a time budget per input.
//!
//! A thread cannot be stopped from outside, so an input over its budget is
//! abandoned: its result becomes the budget error, a new worker takes its
//! place, and the stuck thread exits if it ever finishes (its resources
//! stay held until then, or until the process ends).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

/// Inputs dispatched beyond the oldest one not yet handed on, per worker:
/// bounds the results waiting for an earlier, slower input.
const WINDOW_PER_JOB: usize = 4;

struct Job<I> {
    index: usize,
    input: Arc<I>,
    abandoned: Arc<AtomicBool>,
}

/// An input handed to the workers and not yet finished.
struct InFlight<I> {
    input: Arc<I>,
    abandoned: Arc<AtomicBool>,
    /// When a worker took it (its budget runs from there).
    started: Option<Instant>,
}

enum Msg<R> {
    Started(usize),
    Done(usize, R),
}

type Queue<I> = Arc<Mutex<Receiver<Job<I>>>>;

/// Runs `work` over `inputs` on `jobs` threads and calls `emit` with each
/// result in input order, until it says to stop. An input still running
/// after `budget` gets `over_budget(input)` as its result instead.
pub fn run_ordered<I, R, W, O, E>(
    inputs: Vec<I>,
    jobs: usize,
    budget: Option<Duration>,
    work: W,
    over_budget: O,
    mut emit: E,
) -> Result<()>
where
    I: Send + Sync + 'static,
    R: Send + 'static,
    W: Fn(&I) -> R + Send + Sync + 'static,
    O: Fn(&I) -> R,
    E: FnMut(R) -> Result<ControlFlow<()>>,
{
    let total = inputs.len();
    let jobs = jobs.max(1);
    let window = jobs.saturating_mul(WINDOW_PER_JOB);
    let work = Arc::new(work);
    let (job_tx, job_rx) = mpsc::channel::<Job<I>>();
    let queue: Queue<I> = Arc::new(Mutex::new(job_rx));
    let (msg_tx, msg_rx) = mpsc::channel::<Msg<R>>();
    for _ in 0..jobs.min(total) {
        spawn_worker(&queue, &msg_tx, &work)?;
    }

    let mut todo: VecDeque<(usize, I)> = inputs.into_iter().enumerate().collect();
    let mut in_flight: HashMap<usize, InFlight<I>> = HashMap::new();
    let mut ready: BTreeMap<usize, R> = BTreeMap::new();
    let mut next_emit = 0;
    while next_emit < total {
        while let Some((index, _)) = todo.front() {
            if *index >= next_emit + window {
                break;
            }
            let Some((index, input)) = todo.pop_front() else {
                break;
            };
            let (input, abandoned) = (Arc::new(input), Arc::new(AtomicBool::new(false)));
            in_flight.insert(
                index,
                InFlight {
                    input: input.clone(),
                    abandoned: abandoned.clone(),
                    started: None,
                },
            );
            job_tx.send(Job {
                index,
                input,
                abandoned,
            })?;
        }
        let deadline = budget.and_then(|b| {
            in_flight
                .values()
                // A budget past what an Instant can hold is no budget.
                .filter_map(|f| f.started.and_then(|s| s.checked_add(b)))
                .min()
        });
        let msg = match deadline {
            Some(d) => msg_rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            None => msg_rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(Msg::Started(i)) => {
                if let Some(f) = in_flight.get_mut(&i) {
                    f.started = Some(Instant::now());
                }
            }
            Ok(Msg::Done(i, r)) => {
                // A result for an abandoned input comes too late: dropped.
                if in_flight.remove(&i).is_some() {
                    ready.insert(i, r);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let over: Vec<usize> = in_flight
                    .iter()
                    .filter(|(_, f)| {
                        let deadline = f.started.zip(budget).and_then(|(s, b)| s.checked_add(b));
                        deadline.is_some_and(|d| now >= d)
                    })
                    .map(|(&i, _)| i)
                    .collect();
                for i in over {
                    if let Some(f) = in_flight.remove(&i) {
                        f.abandoned.store(true, Ordering::SeqCst);
                        ready.insert(i, over_budget(&f.input));
                        spawn_worker(&queue, &msg_tx, &work)?;
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("every worker thread ended with inputs left");
            }
        }
        while let Some(r) = ready.remove(&next_emit) {
            if emit(r)?.is_break() {
                return Ok(());
            }
            next_emit += 1;
        }
    }
    // Idle workers see the queue close and end; abandoned ones are left.
    drop(job_tx);
    Ok(())
}

fn spawn_worker<I, R, W>(queue: &Queue<I>, results: &Sender<Msg<R>>, work: &Arc<W>) -> Result<()>
where
    I: Send + Sync + 'static,
    R: Send + 'static,
    W: Fn(&I) -> R + Send + Sync + 'static,
{
    let (queue, results, work) = (queue.clone(), results.clone(), work.clone());
    std::thread::Builder::new()
        .name("analyze".into())
        .spawn(move || {
            loop {
                let job = {
                    let q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.recv()
                };
                let Ok(job) = job else { return };
                if results.send(Msg::Started(job.index)).is_err() {
                    return;
                }
                let r = work(&job.input);
                if job.abandoned.load(Ordering::SeqCst) {
                    return; // a replacement took this thread's place
                }
                if results.send(Msg::Done(job.index, r)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_input_order_whatever_finishes_first() {
        let inputs: Vec<u64> = (0..20).collect();
        let mut got = Vec::new();
        run_ordered(
            inputs,
            3,
            None,
            |&i| {
                // Later inputs finish first.
                std::thread::sleep(Duration::from_millis(20 - i));
                i * 10
            },
            |_| unreachable!("no budget"),
            |r| {
                got.push(r);
                Ok(ControlFlow::Continue(()))
            },
        )
        .unwrap();
        assert_eq!(got, (0..20).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn an_input_over_budget_gets_the_budget_result_and_the_rest_go_on() {
        let inputs: Vec<u64> = vec![1, 999, 2, 3];
        let mut got = Vec::new();
        let start = Instant::now();
        run_ordered(
            inputs,
            1,
            Some(Duration::from_millis(200)),
            |&i| {
                if i == 999 {
                    std::thread::sleep(Duration::from_secs(30));
                }
                i as i64
            },
            |&i| -(i as i64),
            |r| {
                got.push(r);
                Ok(ControlFlow::Continue(()))
            },
        )
        .unwrap();
        assert_eq!(got, vec![1, -999, 2, 3]);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
