// The items API as the app sees it: every call returns parsed JSON or throws an
// ApiError carrying the HTTP status and the API's error code, so pages can show
// a specific message (404 missing, 401 bad token, 412 edited elsewhere).

import { forgetToken, getToken } from './token.svelte.js';

export class ApiError extends Error {
	constructor(status, code, message, retryAfter = null) {
		super(message);
		this.status = status;
		this.code = code;
		// Seconds to wait before trying again (429), when the server said.
		this.retryAfter = retryAfter;
	}
}

async function request(path, { method = 'GET', body, etag, write = false, token } = {}) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (etag) headers['If-Match'] = etag;
	if (write) {
		token = getToken();
		if (!token) throw new ApiError(401, 'no_token', 'Paste a write token first.');
	}
	if (token) headers.Authorization = `Bearer ${token}`;
	let response;
	try {
		response = await fetch(path, {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body)
		});
	} catch {
		throw new ApiError(0, 'network', 'The server could not be reached.');
	}
	if (response.status === 204) return { data: null, etag: null };
	const data = await response.json().catch(() => null);
	if (!response.ok) {
		const error = data?.error ?? {};
		const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
		// A write refused for its token: the stored token is useless (revoked, or from
		// another server), so it is dropped and the header asks for a new one.
		if (write && response.status === 401 && getToken() === token) forgetToken();
		throw new ApiError(
			response.status,
			error.code ?? 'http_error',
			error.message ?? `The server answered ${response.status}.`,
			Number.isFinite(retryAfter) ? retryAfter : null
		);
	}
	return { data, etag: response.headers.get('ETag') };
}

/** The order of a search ranked best match first. */
export const RELEVANCE = 'relevance';

/**
 * The listing's query string. A search in relevance order is hybrid: words and meaning
 * together, so a paraphrase finds an item that shares no word with it. Any other
 * order needs the search to be a word filter (mode=text), the only mode the API sorts
 * by a column: asking for hybrid with sort=name would be refused, not sorted.
 */
export function listParams({ q = '', sort = '-created_at', cursor = '', limit = 20 } = {}) {
	const params = new URLSearchParams({ limit: String(limit), sort });
	if (q) params.set('q', q);
	if (q) params.set('mode', sort === RELEVANCE ? 'hybrid' : 'text');
	if (cursor) params.set('cursor', cursor);
	return params;
}

export const listItems = (query) => request(`/api/items?${listParams(query)}`);

/** Items most like this one, most similar first (never the item itself). */
export const similarItems = (id, limit = 5) =>
	request(`/api/items/${encodeURIComponent(id)}/similar?limit=${limit}`);

/** Who a token belongs to: `{name}` when the server accepts it, else an ApiError. */
export const checkToken = (token) => request('/api/token', { token });

export const getItem = (id) => request(`/api/items/${encodeURIComponent(id)}`);

export const createItem = (fields) =>
	request('/api/items', { method: 'POST', body: fields, write: true });

export const updateItem = (id, fields, etag) =>
	request(`/api/items/${encodeURIComponent(id)}`, {
		method: 'PATCH',
		body: fields,
		etag,
		write: true
	});

export const deleteItem = (id, etag) =>
	request(`/api/items/${encodeURIComponent(id)}`, { method: 'DELETE', etag, write: true });

/** Whether an error means "a (valid) write token is needed", to offer help getting one. */
export const needsToken = (error) => error instanceof ApiError && error.status === 401;

/** Whether a load failed because there is no such item (or the id cannot be one). */
export const isMissing = (error) =>
	error instanceof ApiError && (error.status === 404 || error.code === 'invalid_id');

/** The server's reason, with how long to wait when it said. */
export function withRetry(error) {
	const wait = error.retryAfter ? ` (wait ${error.retryAfter} s)` : '';
	return `${error.message}${wait}`;
}

/** A message a person can act on, for an ApiError or anything else thrown. */
export function describe(error) {
	if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
	switch (error.status) {
		case 401:
			return error.code === 'no_token'
				? error.message
				: 'The write token was refused (it may have been revoked), so this browser forgot it. Paste a valid token above.';
		case 429:
			return withRetry(error);
		case 404:
			return 'This item does not exist (it may have been deleted).';
		case 412:
			return 'Someone else changed this item while you were editing it.';
		default:
			return error.message;
	}
}
