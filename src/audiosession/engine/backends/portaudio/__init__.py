"""The PortAudio backend: ALSA, Core Audio and WASAPI devices (``backend``), what it knows of
PortAudio's host APIs and devices (``host``), and its device-watcher child process
(``watcher``)."""
