"""The progress service: Course catalog, enrollments, lesson views and time, video
watching, quizzes and the learner read models.
"""
