"""Brokers behind one interface (``base.Broker``): the paper ledger and Alpaca's paper API."""
