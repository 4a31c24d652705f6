"""The shared web kit: security headers, sign-in, sessions, CSRF, roles and the staff base template.

The only web code that both producers/ (citizen pages) and consumers/ (staff pages) import.
"""
