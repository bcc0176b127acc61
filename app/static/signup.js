/*
 * signup.js: sign-up forms that post to the signup service with fetch. No dependencies.
 *
 * Mark up plain forms that work without JavaScript, then include this file (defer):
 *   <form method="post" action="https://signup.example.com/register" data-signup="register">
 *   <form method="post" action=".../register/confirm" data-signup="confirm">  (username, code)
 *   <form method="post" action=".../register/resend" data-signup="resend">    (username)
 * Fields are named as in the API; a map entry is "attributes[custom:plan]". Optional parts:
 *   [data-signup-step="register|confirm|done"]  sections shown one at a time
 *   [data-signup-message]                       the form's message area (role="alert")
 *   [data-signup-destination]                   where the code went, e.g. "a***@e***"
 *   data-user-pool-id, data-client-id on a form: with Cognito's advanced-security script loaded,
 *     AmazonCognitoAdvancedSecurityData.getData(...) is sent as encoded_data.
 *   [data-signup-signed-in], [data-signup-not-signed-in]  parts of the done step shown when the
 *     confirmation signed the person in, or did not; [data-signup-sign-in-link] gets the
 *     service's sign-in URL
 * The script's own messages are English unless the page carries them in its language, as data:
 *   <script type="application/json" id="signup-messages">{"failed": "...", ...}</script>
 *   (the keys are those of MESSAGES below; the demo page renders them in the chosen language).
 * Each form fires signup:registered, signup:confirmed, signup:resent or signup:error (bubbling,
 * detail = the JSON answer). Without a step to show next, success follows the form's redirect_to.
 * Signed in after confirming, the browser holds the tokens as HttpOnly cookies (this script never
 * sees them) and goes to the form's redirect_to or the service's signed-in URL, if either is set.
 */
(function () {
  "use strict";

  var RETRY_DEFAULT_SECONDS = 30;

  var MESSAGES = {
    checkInbox: "Check your inbox for a confirmation code.",
    signedIn: "You're signed in.",
    confirmed: "Your account is confirmed. You can sign in now.",
    resentTo: "A new code is on its way to {destination}.",
    resent: "A new code is on its way.",
    failed: "Something went wrong. Please try again.",
    wait: "Please wait {seconds} seconds before trying again.",
    unreachable: "We could not reach the server. Check your connection and try again.",
  };

  // The page's translations, where it has them; a broken block leaves the English.
  (function readMessages() {
    var block = document.getElementById("signup-messages");
    if (!block) return;
    try {
      var given = JSON.parse(block.textContent);
      Object.keys(MESSAGES).forEach(function (key) {
        if (typeof given[key] === "string" && given[key]) MESSAGES[key] = given[key];
      });
    } catch (error) {
      return;
    }
  })();

  function message(key, values) {
    return MESSAGES[key].replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  function body(form) {
    var data = {};
    new FormData(form).forEach(function (value, name) {
      // Empty optional fields are left out rather than sent as "", which the API refuses.
      if (typeof value !== "string" || value === "" || name === "redirect_to") return;
      var map = /^([a-z_]+)\[([^\[\]]+)\]$/.exec(name);
      if (map) {
        data[map[1]] = data[map[1]] || {};
        data[map[1]][map[2]] = value;
      } else {
        data[name] = value;
      }
    });
    return data;
  }

  function encodedData(form, username) {
    var security = window.AmazonCognitoAdvancedSecurityData;
    var pool = form.getAttribute("data-user-pool-id");
    var client = form.getAttribute("data-client-id");
    if (!security || !pool || !client || !username) return null;
    try {
      return security.getData(username, pool, client) || null;
    } catch (error) {
      return null; // the fingerprint is optional; a failing script must not stop a sign-up
    }
  }

  function messageArea(form) {
    var area = form.querySelector("[data-signup-message]");
    if (!area) {
      area = document.createElement("div");
      area.setAttribute("data-signup-message", "");
      area.setAttribute("role", "alert");
      area.className = "form-message";
      form.insertBefore(area, form.firstChild);
    }
    return area;
  }

  function say(form, text) {
    var area = messageArea(form);
    area.textContent = "";
    if (text) {
      var paragraph = document.createElement("p");
      paragraph.textContent = text;
      area.appendChild(paragraph);
    }
  }

  function inputFor(form, field) {
    // "attributes.custom:plan" is the input "attributes[custom:plan]".
    var name = field.replace(/^([^.]+)\.(.+)$/, "$1[$2]");
    var input = form.elements.namedItem(name);
    if (!input && name === "username") input = form.elements.namedItem("email");
    if (!input || !input.tagName || input.type === "hidden") return null;
    return input;
  }

  function describedBy(input, id, present) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (item) {
      return item && item !== id;
    });
    if (present) ids.push(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function errorElement(input) {
    if (!input.id) input.id = "signup-" + input.name.replace(/[^A-Za-z0-9_-]/g, "-");
    var element = document.getElementById(input.id + "-error");
    if (!element) {
      element = document.createElement("p");
      element.id = input.id + "-error";
      element.className = "field-error";
      input.insertAdjacentElement("afterend", element);
    }
    return element;
  }

  function showFieldError(input, messages) {
    var element = errorElement(input);
    element.textContent = messages.join(" ");
    element.hidden = false;
    input.setAttribute("aria-invalid", "true");
    describedBy(input, element.id, true);
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.getAttribute("aria-invalid") !== "true") return;
      input.removeAttribute("aria-invalid");
      var element = errorElement(input);
      element.textContent = "";
      element.hidden = true;
      describedBy(input, element.id, false);
    });
    say(form, "");
  }

  function buttons(form) {
    return form.querySelectorAll("button:not([type=button]), input[type=submit]");
  }

  function setBusy(form, busy) {
    form.setAttribute("aria-busy", busy ? "true" : "false");
    Array.prototype.forEach.call(buttons(form), function (button) {
      if (!button.hasAttribute("data-signup-waiting")) button.disabled = busy;
    });
  }

  function retryAfter(response) {
    var value = (response.headers.get("Retry-After") || "").trim();
    if (/^\d+$/.test(value)) return parseInt(value, 10);
    var date = Date.parse(value);
    return isNaN(date) ? null : Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }

  // The wait is announced once (the alert); the buttons count down silently and come back.
  function holdOff(form, seconds) {
    Array.prototype.forEach.call(buttons(form), function (button) {
      var label = button.textContent;
      var left = seconds;
      button.setAttribute("data-signup-waiting", "");
      button.disabled = true;
      button.textContent = label + " (" + left + " s)";
      var timer = window.setInterval(function () {
        left -= 1;
        button.textContent = label + " (" + left + " s)";
        if (left > 0) return;
        window.clearInterval(timer);
        button.textContent = label;
        button.removeAttribute("data-signup-waiting");
        button.disabled = false;
      }, 1000);
    });
  }

  function showStep(name) {
    var steps = document.querySelectorAll("[data-signup-step]");
    var shown = null;
    Array.prototype.forEach.call(steps, function (step) {
      step.hidden = step.getAttribute("data-signup-step") !== name;
      if (!step.hidden) shown = step;
    });
    if (!shown) return false;
    // The first field still to fill in, else the step's heading, so the next thing to do is read.
    var empty = Array.prototype.filter.call(
      shown.querySelectorAll("input:not([type=hidden])"),
      function (input) {
        return !input.value;
      }
    );
    var focus = empty[0] || shown.querySelector("h1, h2");
    if (focus) focus.focus();
    return true;
  }

  function follow(form) {
    var target = form.querySelector("input[name=redirect_to]");
    if (target && target.value) {
      window.location.assign(target.value);
      return true;
    }
    return false;
  }

  function fire(form, name, detail) {
    form.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
  }

  function registered(form, username, answer) {
    var fields = document.querySelectorAll(
      'form[data-signup="confirm"] [name="username"], form[data-signup="resend"] [name="username"]'
    );
    Array.prototype.forEach.call(fields, function (field) {
      field.value = username;
    });
    var delivery = answer && answer.code_delivery;
    Array.prototype.forEach.call(document.querySelectorAll("[data-signup-destination]"), function (el) {
      el.textContent = (delivery && delivery.destination) || "";
    });
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-signup-destination-text]"),
      function (el) {
        el.hidden = !(delivery && delivery.destination);
      }
    );
    fire(form, "signup:registered", answer);
    if (!showStep("confirm") && !follow(form)) say(form, message("checkInbox"));
  }

  function showOutcome(signedIn, signInUrl) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-signup-signed-in]"), function (el) {
      el.hidden = !signedIn;
    });
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-signup-not-signed-in]"),
      function (el) {
        el.hidden = signedIn;
      }
    );
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-signup-sign-in-link]"),
      function (link) {
        if (signInUrl) link.setAttribute("href", signInUrl);
        link.hidden = !signInUrl;
      }
    );
  }

  function confirmed(form, answer) {
    var signedIn = !!(answer && answer.signed_in);
    fire(form, "signup:confirmed", answer);
    if (signedIn && answer.signed_in_url && !form.querySelector("input[name=redirect_to]")) {
      window.location.assign(answer.signed_in_url);
      return;
    }
    showOutcome(signedIn, answer && answer.sign_in_url);
    if (!showStep("done") && !follow(form)) {
      say(form, message(signedIn ? "signedIn" : "confirmed"));
    }
  }

  function resent(form, answer) {
    var delivery = answer && answer.code_delivery;
    say(form, delivery && delivery.destination
      ? message("resentTo", { destination: delivery.destination })
      : message("resent"));
    fire(form, "signup:resent", answer);
  }

  function failed(form, response, answer) {
    var text = (answer && answer.message) || message("failed");
    var extra = [];
    var first = null;
    var fields = (answer && answer.fields) || {};
    Object.keys(fields).forEach(function (field) {
      var input = inputFor(form, field);
      if (input) {
        showFieldError(input, fields[field]);
        first = first || input;
      } else {
        fields[field].forEach(function (message) {
          if (message !== text) extra.push(message);
        });
      }
    });
    var wait = retryAfter(response);
    if (response.status === 429 || (response.status === 503 && wait)) {
      wait = wait || RETRY_DEFAULT_SECONDS;
      text += " " + message("wait", { seconds: wait });
      holdOff(form, wait);
    }
    say(form, [text].concat(extra).join(" "));
    if (first) first.focus();
    fire(form, "signup:error", answer);
  }

  async function submit(form) {
    if (form.getAttribute("aria-busy") === "true") return;
    clearErrors(form);
    var kind = form.getAttribute("data-signup");
    var data = body(form);
    var username = data.username || data.email;
    var encoded = encodedData(form, username);
    if (encoded) data.encoded_data = encoded;
    setBusy(form, true);
    var response;
    var answer = null;
    try {
      response = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(data),
        // The sign-in handle and the tokens are HttpOnly cookies of the service's own.
        credentials: "include",
      });
      answer = await response.json().catch(function () {
        return null;
      });
    } catch (error) {
      say(form, message("unreachable"));
      return;
    } finally {
      setBusy(form, false);
    }
    if (!response.ok) failed(form, response, answer);
    else if (kind === "register") registered(form, username, answer);
    else if (kind === "confirm") confirmed(form, answer);
    else resent(form, answer);
  }

  function enhance(form) {
    if (form.hasAttribute("data-signup-ready")) return;
    form.setAttribute("data-signup-ready", "");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form);
    });
  }

  function enhanceAll() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-signup]"), enhance);
  }

  window.SignupForms = { enhance: enhance };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhanceAll);
  else enhanceAll();
})();
