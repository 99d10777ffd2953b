//! Objects as stored (ciphertext), for backups: read and written without any key, streamed.
//! They are already encrypted under their org's keys, whose wrapped forms live in the database.

use super::{ObjectError, Vault, PARTS_IN_FLIGHT, PART_SIZE};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::WriteMultipart;

impl Vault {
    /// The stored bytes of an object, streamed, and their length (None: no such object).
    pub async fn read_raw(
        &self,
        path: &str,
    ) -> Result<Option<(u64, BoxStream<'static, Result<Bytes, ObjectError>>)>, ObjectError> {
        match self.store.get(&Path::from(path)).await {
            Ok(got) => {
                let size = got.meta.size;
                Ok(Some((
                    size,
                    got.into_stream().map_err(ObjectError::from).boxed(),
                )))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `body` as the object at `path` exactly as given (a multipart upload: constant
    /// memory whatever the size).
    pub async fn write_raw<S, E>(&self, path: &str, mut body: S) -> Result<u64, ObjectError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(&Path::from(path)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut total = 0u64;
        loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    total += chunk.len() as u64;
                    if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        let _ = writer.abort().await;
                        return Err(e.into());
                    }
                    writer.write(&chunk);
                }
                Some(Err(e)) => {
                    let _ = writer.abort().await;
                    return Err(ObjectError::Body(e.to_string()));
                }
                None => break,
            }
        }
        writer.finish().await?;
        Ok(total)
    }

    /// Whether the store holds any object at all (a restore target must not).
    pub async fn is_empty(&self) -> Result<bool, ObjectError> {
        match self.store.list(None).next().await {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Removes every object of the store: only for a restore target that was empty when the
    /// restore began (a failed restore leaves nothing behind).
    pub async fn remove_everything(&self) -> Result<(), ObjectError> {
        let paths: Vec<Path> = self
            .store
            .list(None)
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A local store keeps the emptied org directories: remove them too.
        if let Some(root) = &self.local_root {
            if let Ok(dirs) = std::fs::read_dir(root) {
                for dir in dirs.flatten() {
                    let _ = std::fs::remove_dir(dir.path());
                }
            }
        }
        Ok(())
    }
}
