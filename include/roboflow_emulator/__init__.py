"""A local stand-in for the Roboflow Data Staging and Batch Processing cloud API.

Start it with ``python -m include.roboflow_emulator --host 127.0.0.1 --port 8765``; see
``include/roboflow_emulator/README.md`` for the options and control endpoints.
"""
