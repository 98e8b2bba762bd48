// The page's only script: lists the entries and adds one, through the JSON API.
// Plain JavaScript served as it is: no build step, no Node.
"use strict";

const TOKEN_KEY = "{{name}}.token";

const form = document.getElementById("entry-form");
const nameInput = document.getElementById("entry-name");
const messageInput = document.getElementById("entry-message");
const tokenInput = document.getElementById("token");
const submitButton = form.querySelector("button[type=submit]");
const formError = document.getElementById("form-error");
const formStatus = document.getElementById("form-status");
const listError = document.getElementById("list-error");
const empty = document.getElementById("empty");
const list = document.getElementById("entries");

// Every onebin error is {"error": {"code", "message"}}; show its message.
class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiFailure(
      response.status,
      error.code || "http_error",
      error.message || `the server answered ${response.status}`,
    );
  }
  return body;
}

function entryItem(entry) {
  const item = document.createElement("li");
  const heading = document.createElement("p");
  heading.className = "entry-meta";
  const author = document.createElement("strong");
  author.textContent = entry.name;
  const when = document.createElement("time");
  when.dateTime = entry.created_at;
  when.textContent = new Date(entry.created_at).toLocaleString();
  heading.append(author, " · ", when);
  const message = document.createElement("p");
  message.className = "entry-message";
  message.textContent = entry.message;
  item.append(heading, message);
  return item;
}

async function loadEntries() {
  try {
    const { entries } = await api("/api/entries");
    list.replaceChildren(...entries.map(entryItem));
    empty.hidden = entries.length > 0;
    listError.textContent = "";
  } catch (error) {
    listError.textContent = `Could not load the entries: ${error.message}`;
  }
}

async function addEntry(event) {
  event.preventDefault();
  formError.textContent = "";
  formStatus.textContent = "";
  const token = tokenInput.value.trim();
  if (!token) {
    formError.textContent = "Enter a write token first (see below the field).";
    tokenInput.focus();
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  submitButton.disabled = true;
  try {
    await api("/api/entries", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: nameInput.value, message: messageInput.value }),
    });
    messageInput.value = "";
    formStatus.textContent = "Entry added.";
    await loadEntries();
  } catch (error) {
    if (error instanceof ApiFailure) {
      const hint = error.status === 401 ? " Check the write token field." : "";
      formError.textContent = `Not added: ${error.message}.${hint}`;
    } else {
      formError.textContent = `Not added: the server could not be reached (${error.message}).`;
    }
  } finally {
    submitButton.disabled = false;
  }
}

tokenInput.value = localStorage.getItem(TOKEN_KEY) || "";
form.addEventListener("submit", addEntry);
loadEntries();
