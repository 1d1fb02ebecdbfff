//! Events: ids, fan-out to the subscribed endpoints, and the jobs they become ([`Sender::jobs_for`]).

use bytes::Bytes;

use super::Sender;
use crate::error::SendError;
use crate::queue::{JobId, NewJob, Queue, is_valid_event_id};

/// An event to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event id, sent as `webhook-id` (the receiver's idempotency key); generated (`msg_…`) if `None`.
    pub id: Option<String>,
    /// The event type (`invoice.paid`).
    pub event_type: String,
    /// The JSON body.
    pub payload: Bytes,
}

impl Event {
    /// An event with a generated id.
    #[must_use]
    pub fn new(event_type: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: None,
            event_type: event_type.into(),
            payload: payload.into(),
        }
    }

    /// Uses the caller's event id (sending it twice to one endpoint returns the existing job).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

pub(crate) fn new_event_id() -> String {
    format!("msg_{:032x}", rand::random::<u128>())
}

/// One job created by [`Sender::publish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The endpoint.
    pub endpoint_id: String,
    /// The job.
    pub job_id: JobId,
}

impl<Q: Queue> Sender<Q> {
    fn event_id(event: &Event) -> Result<String, SendError> {
        match &event.id {
            Some(id) if !is_valid_event_id(id) => Err(SendError::InvalidEventId),
            Some(id) => Ok(id.clone()),
            None => Ok(new_event_id()),
        }
    }

    fn job(&self, endpoint_id: &str, event_id: &str, event: &Event) -> Result<NewJob, SendError> {
        let now = self.now();
        let job = NewJob::new(
            endpoint_id,
            event_id,
            event.event_type.clone(),
            event.payload.clone(),
            now,
        )?;
        Ok(job.scheduled_at(now + self.shared.settings.retry.first_delay()))
    }

    /// The jobs `event` becomes: one per endpoint subscribed to its type, all with one event id (the
    /// event's, or a fresh one). For a transactional outbox: enqueue them in the application's transaction
    /// (PostgreSQL's `enqueue_in`), or hand them to [`Queue::enqueue_many`] yourself.
    ///
    /// # Errors
    /// [`SendError::InvalidEventId`], or [`SendError::Job`] (an event type or payload the queue refuses).
    pub fn jobs_for(&self, event: &Event) -> Result<Vec<NewJob>, SendError> {
        let id = Self::event_id(event)?;
        self.shared
            .order
            .iter()
            .filter(|ep| {
                self.shared.endpoints[*ep]
                    .config
                    .subscribes_to(&event.event_type)
            })
            .map(|ep| self.job(ep, &id, event))
            .collect()
    }

    /// Persists `event` for one endpoint and returns at once. Sending the same event id to the same
    /// endpoint again returns the existing job.
    ///
    /// # Errors
    /// [`SendError::UnknownEndpoint`], [`SendError::InvalidEventId`], [`SendError::Job`], or
    /// [`SendError::Queue`] naming the event id.
    pub async fn send(&self, endpoint_id: &str, event: Event) -> Result<JobId, SendError> {
        let ep = self
            .shared
            .endpoints
            .get(endpoint_id)
            .ok_or_else(|| SendError::UnknownEndpoint(endpoint_id.to_owned()))?;
        let id = Self::event_id(&event)?;
        let job = self.job(&ep.config.id, &id, &event)?;
        let job_id = self
            .shared
            .queue
            .enqueue(job)
            .await
            .map_err(|source| SendError::Queue {
                event_id: id,
                source,
            })?;
        self.shared.wake.notify_one();
        Ok(job_id)
    }

    /// Persists an event of `event_type` (with a generated id) for every endpoint subscribed to it, all or
    /// none.
    ///
    /// # Errors
    /// See [`publish_event`](Self::publish_event).
    pub async fn publish(
        &self,
        event_type: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Vec<Enqueued>, SendError> {
        self.publish_event(Event::new(event_type, payload)).await
    }

    /// Like [`publish`](Self::publish), with the caller's event id (if any) used for every endpoint. One
    /// [`Queue::enqueue_many`] call: every subscribed endpoint gets its job, or none does.
    ///
    /// # Errors
    /// [`SendError::InvalidEventId`], [`SendError::Job`], or [`SendError::Queue`] naming the event id (retry
    /// with [`Event::with_id`] and that id: jobs already stored are deduplicated).
    pub async fn publish_event(&self, event: Event) -> Result<Vec<Enqueued>, SendError> {
        let event = match event.id {
            Some(_) => event,
            None => event.clone().with_id(new_event_id()),
        };
        let jobs = self.jobs_for(&event)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let endpoints: Vec<String> = jobs.iter().map(|j| j.endpoint_id().to_owned()).collect();
        let ids = self
            .shared
            .queue
            .enqueue_many(jobs)
            .await
            .map_err(|source| SendError::Queue {
                event_id: event.id.clone().unwrap_or_default(),
                source,
            })?;
        self.shared.wake.notify_one();
        Ok(endpoints
            .into_iter()
            .zip(ids)
            .map(|(endpoint_id, job_id)| Enqueued {
                endpoint_id,
                job_id,
            })
            .collect())
    }
}
