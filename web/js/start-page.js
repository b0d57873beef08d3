// The start page: go to a room by its name.
import { setUpLanguage } from "./i18n.js";

const ROOM_ID = /^[a-z0-9-]{1,64}$/;

setUpLanguage(document.getElementById("language"));

const form = document.getElementById("room-form");
const input = document.getElementById("room-id");
const error = document.getElementById("room-error");

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = input.value.trim().toLowerCase();
  if (!ROOM_ID.test(room)) {
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  location.assign(`/r/${room}`);
});
