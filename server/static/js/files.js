// Files are served only with the Authorization header (GET /api/files/{id}), which an <img>
// or a plain link cannot send. So they are fetched here and handed to the page as blob: URLs
// (allowed by the page's CSP for images), cached per file id for images.

const imageUrls = new Map(); // file id → Promise<string>
const resolved = new Map(); // file id → string, for drawing a cached image without a flicker

export function cachedImageUrl(fileId) {
  return resolved.get(fileId) || null;
}

export function imageUrl(api, fileId) {
  let promise = imageUrls.get(fileId);
  if (!promise) {
    promise = api.fetchFile(fileId).then((blob) => {
      const url = URL.createObjectURL(blob);
      resolved.set(fileId, url);
      return url;
    });
    // A failure (say, offline) is not cached: the next render tries again.
    promise.catch(() => imageUrls.delete(fileId));
    imageUrls.set(fileId, promise);
  }
  return promise;
}

/** Saves a file under its original name: fetch with the token, then a download link. */
export async function downloadFile(api, ref) {
  const blob = await api.fetchFile(ref.file_id);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = ref.name || "file";
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own copy by now; give it a moment before freeing the memory.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** On logout: another user on this browser must not see this user's files. */
export function forgetFiles() {
  for (const url of resolved.values()) URL.revokeObjectURL(url);
  resolved.clear();
  imageUrls.clear();
}
