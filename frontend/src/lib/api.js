// The items API as the app sees it: every call returns parsed JSON or throws an
// ApiError carrying the HTTP status and the API's error code, so pages can show
// a specific message (404 missing, 401 bad token, 412 edited elsewhere).

import { getToken } from './token.svelte.js';

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

async function request(path, { method = 'GET', body, etag, write = false } = {}) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (etag) headers['If-Match'] = etag;
	if (write) {
		const token = getToken();
		if (!token) throw new ApiError(401, 'no_token', 'Paste a write token first.');
		headers.Authorization = `Bearer ${token}`;
	}
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
		throw new ApiError(
			response.status,
			error.code ?? 'http_error',
			error.message ?? `The server answered ${response.status}.`
		);
	}
	return { data, etag: response.headers.get('ETag') };
}

export function listItems({ q = '', sort = '-created_at', cursor = '', limit = 20 } = {}) {
	const params = new URLSearchParams({ limit: String(limit), sort });
	if (q) params.set('q', q);
	if (cursor) params.set('cursor', cursor);
	return request(`/api/items?${params}`);
}

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

/** A message a person can act on, for an ApiError or anything else thrown. */
export function describe(error) {
	if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
	switch (error.status) {
		case 401:
			return error.code === 'no_token'
				? error.message
				: 'The write token was refused. Paste a valid token above.';
		case 404:
			return 'This item does not exist (it may have been deleted).';
		case 412:
			return 'Someone else changed this item while you were editing it.';
		default:
			return error.message;
	}
}
