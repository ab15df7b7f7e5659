"""Roboflow webhook notifications: the envelope, their persistence as Asset events, and the cheap
"anything new?" check the deferred waits use to finish as soon as a notification arrives."""
