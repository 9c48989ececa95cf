// REST client for /api. Every answer is the envelope {code, message, data} (PROTOCOL §1);
// this module unwraps it, so callers get `data` or an ApiError.

export class ApiError extends Error {
  /** code 0 means the server could not be reached at all. */
  constructor(code, message, data = null) {
    super(message);
    this.code = code;
    this.data = data;
  }

  /** The first field error of a 422, for forms: "username: 3 to 32 letters, ...". */
  get detail() {
    const errors = this.data && this.data.errors;
    if (!errors) return this.message;
    const [field, reasons] = Object.entries(errors)[0] || [];
    const reason = Array.isArray(reasons) ? reasons[0] : reasons;
    return field === "_schema" ? String(reason) : `${field}: ${reason}`;
  }
}

export class Api {
  constructor() {
    this.token = null;
    this.keeper = null; // a TokenKeeper (tokens.js) renews the token before it expires
    // Called when the server says the token is no longer good (expired, revoked elsewhere).
    this.onUnauthorized = () => {};
  }

  async request(method, path, { body, query, form, raw = false, retried = false } = {}) {
    // Login and registration need no token; every other call wants one that has not expired.
    const anonymous = path === "/auth/login" || path === "/auth/register";
    if (this.keeper && !anonymous) await this.keeper.fresh();
    const url = new URL(`/api${path}`, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let payload;
    if (form) {
      payload = form; // the browser writes the multipart boundary itself
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload });
    } catch {
      throw new ApiError(0, "The server cannot be reached");
    }
    if (raw && response.ok) return response;
    let envelope = null;
    try {
      envelope = await response.json();
    } catch {
      // a proxy's HTML error page, say: keep the HTTP status
    }
    if (!response.ok) {
      const error = new ApiError(response.status, envelope?.message || response.statusText || "Request failed", envelope?.data);
      if (response.status === 401 && this.token && !anonymous) {
        // The token expired unnoticed (a sleeping laptop): renew it once and ask again.
        if (!retried && this.keeper && (await this.keeper.recover())) return this.request(method, path, { body, query, form, raw, retried: true });
        this.onUnauthorized();
      }
      throw error;
    }
    return envelope ? envelope.data : null;
  }

  register(fields) {
    return this.request("POST", "/auth/register", { body: fields });
  }

  login(identity, password) {
    // The server takes either a username or an email; an "@" tells which one was typed.
    const key = identity.includes("@") ? "email" : "username";
    return this.request("POST", "/auth/login", { body: { [key]: identity, password } });
  }

  logout() {
    return this.request("POST", "/auth/logout");
  }

  me() {
    return this.request("GET", "/users/me");
  }

  updateMe(fields) {
    return this.request("PATCH", "/users/me", { body: fields });
  }

  /** The other sessions are signed out by the server; this token stays valid. */
  changePassword(currentPassword, newPassword) {
    return this.request("POST", "/auth/password", { body: { current_password: currentPassword, new_password: newPassword } });
  }

  searchUsers(q, after) {
    return this.request("GET", "/users", { query: { q, after, limit: 50 } });
  }

  getUser(id) {
    return this.request("GET", `/users/${id}`);
  }

  /** Archived ones included: the list shows them apart (PROTOCOL §2, `archived`). */
  listConversations() {
    return this.request("GET", "/conversations", { query: { include_archived: "true" } });
  }

  getConversation(id) {
    return this.request("GET", `/conversations/${id}`);
  }

  createGroup(name, memberIds) {
    return this.request("POST", "/conversations", { body: { type: "group", name, member_ids: memberIds } });
  }

  /** A page of messages and the group notices among them: {messages, notices}. */
  history(conversationId, { before, after, changed_after, limit } = {}) {
    return this.request("GET", `/conversations/${conversationId}/messages`, { query: { before, after, changed_after, limit, with_notices: true } });
  }

  /** A message's versions, oldest first, the current content last. */
  messageEdits(conversationId, messageId) {
    return this.request("GET", `/conversations/${conversationId}/messages/${messageId}/edits`);
  }

  /** Who has read one of a group's messages (from the members' read markers). */
  readers(conversationId, messageId) {
    return this.request("GET", `/conversations/${conversationId}/messages/${messageId}/readers`);
  }

  /** The owner's group settings: {recall_window_seconds?, edit_window_seconds?, mentions_all?}. */
  updateGroup(id, fields) {
    return this.request("PATCH", `/conversations/${id}`, { body: fields });
  }

  renameGroup(id, name) {
    return this.request("PATCH", `/conversations/${id}`, { body: { name } });
  }

  deleteConversation(id) {
    return this.request("DELETE", `/conversations/${id}`);
  }

  members(id) {
    return this.request("GET", `/conversations/${id}/members`);
  }

  addMembers(id, userIds) {
    return this.request("POST", `/conversations/${id}/members`, { body: { user_ids: userIds } });
  }

  /** role: "admin" or "member" (the owner's call). */
  setRole(id, userId, role) {
    return this.request("PATCH", `/conversations/${id}/members/${userId}`, { body: { role } });
  }

  /** Hands the group over; the old owner stays as an admin. */
  transferOwnership(id, userId) {
    return this.request("POST", `/conversations/${id}/owner`, { body: { user_id: userId } });
  }

  /** Messages of the caller's conversations holding every word of `q`, newest first. */
  search(q, { before, conversationId } = {}) {
    return this.request("GET", "/search", { query: { q, before, conversation_id: conversationId } });
  }

  /** Removes a member; a member removing itself is leaving. */
  removeMember(id, userId) {
    return this.request("DELETE", `/conversations/${id}/members/${userId}`);
  }

  /** Uploads with XMLHttpRequest, not fetch: only XHR reports upload progress.
   * `onProgress(fraction)`; `signal` aborts (rejects with code -1, "cancelled"). */
  uploadFile(file, { onProgress = () => {}, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/files");
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onerror = () => reject(new ApiError(0, "The server cannot be reached"));
      xhr.onabort = () => reject(new ApiError(-1, "cancelled"));
      xhr.onload = () => {
        let envelope = null;
        try {
          envelope = JSON.parse(xhr.responseText);
        } catch {
          // not the envelope (a proxy's page): keep the HTTP status
        }
        if (xhr.status >= 200 && xhr.status < 300 && envelope) return resolve(envelope.data);
        if (xhr.status === 401) this.onUnauthorized();
        reject(new ApiError(xhr.status, envelope?.message || xhr.statusText || "Upload failed", envelope?.data));
      };
      signal?.addEventListener("abort", () => xhr.abort());
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  /** The file's bytes as a Blob. The download needs the Authorization header, which an
   * <img src> or <a href> cannot send, so files are fetched here and shown via blob: URLs. */
  async fetchFile(id) {
    const response = await this.request("GET", `/files/${id}`, { raw: true });
    return response.blob();
  }
}
